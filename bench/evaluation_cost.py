"""What computing predictions outside the kernel costs: export + clean evaluation per model, against the in-kernel
prediction it replaced, as a ratio.

    .venv/bin/python -m bench.evaluation_cost [--runs 5] [--mnist /work/shared/datasets/mnist.npz]

For each model (the lab's reference networks in PyTorch and Keras, a single Linear layer, a small CNN, a network of
the curriculum's own NumPy framework and a perceptron's weight matrix), on real MNIST
(5,000 hidden inputs, the 2,000-image visible training sample), in one process, one math thread:
- baseline (before issue 12): the in-kernel prediction: the framework's forward() on the training sample for each of
  the five preprocessings the old harness tried, then on the hidden inputs;
- export: the harness's export in the kernel (torch.fx trace or Keras layer walk, weights to base64, JSON written);
- evaluate: the clean evaluator: the export read and validated, the network rebuilt in NumPy, the preprocessing
  named, predictions on the training sample and the hidden inputs (in-process; the evaluator process adds its start,
  measured separately below).
Untrained weights: the cost does not depend on what the network learned.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.harness_output import read_harness_output
from grader.evaluation.in_kernel import harness_source

MNIST = Path(os.environ.get("LABGRADER_BENCH_MNIST", "/work/shared/datasets/mnist.npz"))
PREPROCESSINGS = 5  # the old harness tried the student's function, /255, mean/std, standardised, min-max (and raw)


def _median_s(function: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class _Linear:
    """The curriculum's own-framework layer (04-OwnFramework): W (nout, nin), b (1, nout)."""

    def __init__(self, nin: int, nout: int) -> None:
        self.W = np.random.default_rng(0).normal(0, 1.0 / np.sqrt(nin), (nout, nin))
        self.b = np.zeros((1, nout))

    def forward(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.dot(x, self.W.T) + self.b
        return out


class _Tanh:
    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)


class _Softmax:
    def forward(self, z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out


class _Net:
    def __init__(self, *layers: Any) -> None:
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x


def _models() -> dict[str, tuple[str, Any]]:
    import keras
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    return {
        "torch Linear(784,10)": ("torch", nn.Linear(784, 10)),
        "torch reference MLP": ("torch", nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                                                       nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))),
        "torch small CNN": ("torch", nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5), nn.ReLU(),
                                                   nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 12 * 12, 10))),
        "keras reference MLP": ("keras", keras.Sequential([
            keras.Input((784,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.2),
            keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])),
        "numpy network 784-128-10": ("numpy_network", _Net(_Linear(784, 128), _Tanh(), _Linear(128, 10), _Softmax())),
        "perceptron (10, 785)": ("perceptron", np.random.default_rng(0).normal(0, 1, (10, 785))),
    }


def _in_kernel_prediction(framework: str, model: Any, sample: np.ndarray, hidden: np.ndarray) -> None:
    """What the old harness computed in the kernel: forward() per preprocessing on the sample, then on hidden."""
    def forward(x: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(x), 1024):
            chunk = x[start:start + 1024].astype(np.float32)
            if framework == "numpy_network":
                out.append(model.forward(chunk.astype(np.float64)))
            elif framework == "perceptron":
                out.append(np.c_[chunk, np.ones(len(chunk))] @ model.T)
            elif framework == "torch":
                import torch

                with torch.no_grad():
                    out.append(model(torch.as_tensor(chunk)).numpy())
            else:
                out.append(np.asarray(model(chunk, training=False)))
        return np.concatenate(out).argmax(1)

    if framework == "torch":
        model.eval()
    for _ in range(PREPROCESSINGS):
        forward(sample / 255.0)
    forward(hidden / 255.0)


def _measure(name: str, framework: str, model: Any, harness: dict[str, Any], root: Path,
             data: dict[str, DatasetInputs], runs: int) -> str:
    inputs = data["mnist"]
    raw_sample = inputs.sample_x.reshape(len(inputs.sample_x), -1)
    raw_hidden = inputs.hidden_x.reshape(len(inputs.hidden_x), -1)
    baseline = _median_s(lambda: _in_kernel_prediction(framework, model, raw_sample, raw_hidden), runs)
    request = {"nonce": "b" * 32, "output": str(root / "out.json"), "samples": {"mnist": str(root / "sample.npy")},
               "slots": [{"name": "mnist_model", "dataset": "mnist"}], "histories": [], "classes": {"mnist": 10},
               "model_kinds": [framework]}
    (root / "request.json").write_text(json.dumps(request))
    user_ns = {"mnist_model": model, "preprocess_mnist": lambda x: x.reshape(len(x), -1) / 255.0}
    export_s = _median_s(lambda: harness["run"](str(root / "request.json"), user_ns), runs)

    def evaluation() -> None:
        exported = read_harness_output(root / "out.json", "b" * 32)
        result = evaluate(exported, [SlotRequest("mnist_model", "mnist", "any")], [], data)
        assert result.models[0].predictions is not None, result.models[0].error

    evaluate_s = _median_s(evaluation, runs)
    size_mb = (root / "out.json").stat().st_size / 1e6
    return (f"{name:24} {baseline:12.3f} {export_s:9.3f} {evaluate_s:11.3f} "
            f"{(export_s + evaluate_s) / baseline:8.2f} {size_mb:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mnist", type=Path, default=MNIST)
    args = parser.parse_args()
    with np.load(args.mnist, allow_pickle=False) as mnist:
        rows = np.random.default_rng(0).choice(60000, 2000, replace=False)
        sample_x, sample_y = mnist["x_train"][rows], mnist["y_train"][rows].astype(np.int64)
        hidden = mnist["x_test"][:5000]
    harness: dict[str, Any] = {"__name__": "labgrader_harness"}
    exec(compile(harness_source(), "labgrader_harness.py", "exec"), harness)
    data = {"mnist": DatasetInputs(hidden_x=hidden, sample_x=sample_x, sample_y=sample_y)}
    print(f"{'model':24} {'in-kernel s':>12} {'export s':>9} {'evaluate s':>11} {'new/old':>8} {'export MB':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        np.save(root / "sample.npy", sample_x)
        for name, (framework, model) in _models().items():
            print(_measure(name, framework, model, harness, root, data, args.runs), flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import grader.evaluation.evaluator"], check=True)
    print(f"evaluator process start (python, numpy, pydantic imports): {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
