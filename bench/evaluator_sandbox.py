"""What running the clean evaluator in its own sandbox costs (issue 15): its start and a whole evaluation, as the
service's root process ran it before (`python -m grader.evaluation`, unsandboxed) and in `evaluator_room` now (a
leased uid, a cgroup, bubblewrap, seccomp), with the peak memory the room's cgroup saw.

    sudo .venv/bin/python -m bench.evaluator_sandbox [--runs 5] [--mnist /work/shared/datasets/mnist.npz]

"start": the interpreter importing the evaluator and exiting; "evaluate": the lab's reference MLP (PyTorch; `--width`
widens its first layer to make the export larger) exported
by the real harness, evaluated on 5,000 hidden MNIST inputs and the 2,000-image visible sample. Needs root and
bubblewrap (the room's sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from grader.evaluation.in_kernel import source
from grader.evaluation.runner import run_evaluator
from grader.sandbox.evaluator_room import EvaluatorRoom, evaluator_room
from grader.sandbox.isolation import IsolationMode, SandboxConfig, require_isolation

MNIST = Path(os.environ.get("LABGRADER_BENCH_MNIST", "/work/shared/datasets/mnist.npz"))
START = [sys.executable, "-c", "import grader.evaluation.evaluator"]
SLOT = 45


def _median_s(function: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _export(root: Path, sample_x: np.ndarray[Any, Any], width: int) -> Path:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, width), nn.ReLU(), nn.Dropout(0.2), nn.Linear(width, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    harness: dict[str, Any] = {"__name__": "labgrader_harness"}
    exec(compile(source("export.py") + "\n" + source("harness.py"), "labgrader_harness.py", "exec"), harness)
    np.save(root / "request-sample.npy", sample_x)
    request = {"nonce": "b" * 32, "output": str(root / "out.json"),
               "samples": {"mnist": str(root / "request-sample.npy")},
               "slots": [{"name": "mnist_model", "dataset": "mnist"}], "histories": []}
    (root / "request.json").write_text(json.dumps(request))
    harness["run"](str(root / "request.json"),
                   {"mnist_model": model, "preprocess_mnist": lambda x: x.reshape(len(x), -1) / 255.0})
    return root / "out.json"


def _job(inputs: Path, export: Path, arrays: dict[str, np.ndarray[Any, Any]], result: Path) -> dict[str, Any]:
    paths = {}
    for name, array in arrays.items():
        np.save(inputs / f"mnist-{name}.npy", array)
        paths[name] = str(inputs / f"mnist-{name}.npy")
    shutil.copy(export, inputs / "harness-output.json")
    return {"nonce": "b" * 32, "export": str(inputs / "harness-output.json"), "datasets": {"mnist": paths},
            "slots": [{"name": "mnist_model", "dataset": "mnist", "architecture": "any"}], "histories": [],
            "result": str(result)}


def _unsandboxed(job: dict[str, Any], root: Path) -> None:
    """As `grader.evaluation.runner` ran it before issue 15: the service's uid (root), its environment, no walls."""
    (root / "job.json").write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "grader.evaluation", str(root / "job.json")], env=env, check=True,
                   capture_output=True)
    assert "result" in json.loads(Path(job["result"]).read_text())


def _in_room(config: SandboxConfig, job_root: Path, job: dict[str, Any], peaks: list[int]) -> None:
    job_root.mkdir(mode=0o711)
    try:
        isolation = require_isolation(config)
        with evaluator_room(config, isolation, job_root, SLOT) as room:
            moved = _job(room.inputs, Path(job["export"]), {k: np.load(v) for k, v in job["datasets"]["mnist"].items()},
                         room.result)
            result, problem = run_evaluator(moved, room)
            assert result is not None, problem
            peaks.append(_peak(room))
    finally:
        shutil.rmtree(job_root, ignore_errors=True)


def _peak(room: EvaluatorRoom) -> int:
    if room.cgroup.memory is None:
        return 0
    return int((room.cgroup.memory / "memory.max_usage_in_bytes").read_text())


def _start_in_room(config: SandboxConfig, job_root: Path) -> None:
    job_root.mkdir(mode=0o711)
    try:
        with evaluator_room(config, require_isolation(config), job_root, SLOT) as room:
            subprocess.run(room.argv(START), check=True, capture_output=True)
    finally:
        shutil.rmtree(job_root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mnist", type=Path, default=MNIST)
    parser.add_argument("--width", type=int, default=256, help="the first hidden layer (12000: a ~50 MB export)")
    args = parser.parse_args()
    config = SandboxConfig()
    if require_isolation(config).mode is not IsolationMode.BUBBLEWRAP:
        sys.exit("needs root and bubblewrap")
    with np.load(args.mnist, allow_pickle=False) as mnist:
        rows = np.random.default_rng(0).choice(60000, 2000, replace=False)
        arrays = {"sample_x": mnist["x_train"][rows], "sample_y": mnist["y_train"][rows].astype(np.int64),
                  "hidden_x": mnist["x_test"][:5000]}
    with tempfile.TemporaryDirectory(prefix="labgrader-bench-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o711)
        export = _export(root, arrays["sample_x"], args.width)
        (root / "plain").mkdir()
        job = _job(root / "plain", export, arrays, root / "plain" / "result.json")
        counter = iter(range(10**6))
        peaks: list[int] = []
        start_before = _median_s(lambda: subprocess.run(START, check=True, capture_output=True), args.runs)
        start_after = _median_s(lambda: _start_in_room(config, root / f"job-s{next(counter)}"), args.runs)
        eval_before = _median_s(lambda: _unsandboxed(job, root / "plain"), args.runs)
        eval_after = _median_s(lambda: _in_room(config, root / f"job-e{next(counter)}", job, peaks), args.runs)
        print(f"export: {export.stat().st_size / 1e6:.2f} MB (reference MLP, first hidden layer {args.width}), "
              f"median of {args.runs} runs")
        print(f"{'':10} {'before s':>9} {'after s':>9} {'after/before':>13}")
        print(f"{'start':10} {start_before:9.3f} {start_after:9.3f} {start_after / start_before:13.2f}")
        print(f"{'evaluate':10} {eval_before:9.3f} {eval_after:9.3f} {eval_after / eval_before:13.2f}")
        print(f"peak memory of the evaluator's cgroup: {max(peaks) / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
