"""What the benchmarks share: the bench data directory, timed commands with peak memory, medians, tables."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_ROOT = Path(os.environ.get("LABGRADER_BENCH_ROOT", "/var/tmp/lgbench"))
# sandbox uids of their own, so a benchmark never sweeps (or waits for) the uids of a server running on this host
BENCH_UID_BASE = int(os.environ.get("LABGRADER_BENCH_UID_BASE", "64000"))
MNIST_SOURCE = Path(os.environ.get("LABGRADER_BENCH_MNIST", "/work/shared/datasets/mnist.npz"))


def labgrader_env(**extra: str) -> dict[str, str]:
    """The environment of a `labgrader` command in the bench's own data, jobs dir and uid range."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGRADER_") or k == "LABGRADER_KERNELS_DIR"}
    env.update({
        "LABGRADER_DATA_DIR": str(BENCH_ROOT / "data"),
        "LABGRADER_JOBS_DIR": str(BENCH_ROOT / "jobs"),
        "LABGRADER_SANDBOX_UID_BASE": str(BENCH_UID_BASE),
        "PYTHONPATH": str(REPO),
    })
    env.update(extra)
    return env


def labgrader(*args: str) -> list[str]:
    return [PYTHON, "-m", "server.cli.main", *args]


def ensure_lab_data() -> Path:
    """The frameworks lab's data prepared under the bench root (MNIST imported once); returns the visible dir."""
    visible = BENCH_ROOT / "data" / "labs" / "frameworks" / "visible"
    if not (visible / "mnist.npz").is_file():
        if not MNIST_SOURCE.is_file():
            raise SystemExit(f"no MNIST at {MNIST_SOURCE}: set LABGRADER_BENCH_MNIST to a copy of mnist.npz")
        subprocess.run(labgrader("datasets", "import", str(MNIST_SOURCE)), env=labgrader_env(), check=True,
                       capture_output=True)
    return visible


@dataclass
class Run:
    """One timed command: wall seconds and the peak resident memory (VmHWM) of its largest process."""

    wall_s: float
    peak_mb: float
    returncode: int
    stdout: str = ""


@dataclass
class _PeakSampler:
    root: int
    kernel_marker: str | None
    interval_s: float = 0.1
    peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        try:
            procs = [psutil.Process(self.root), *psutil.Process(self.root).children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            try:
                if self.kernel_marker is not None and self.kernel_marker not in " ".join(proc.cmdline()):
                    continue
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
            except (psutil.Error, OSError):
                continue

    def run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()


def timed(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
          kernel_marker: str | None = None, timeout_s: float = 1800) -> Run:
    """Run a command to its end; memory is sampled every 0.1 s from the processes whose argv has `kernel_marker`
    (None: every process of the command), so a peak reached in the last 0.1 s may be missed."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    sampler = _PeakSampler(proc.pid, kernel_marker)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sampler.stop()
        thread.join()
    return Run(time.perf_counter() - started, sampler.peak_mb, proc.returncode, stdout)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def machine() -> str:
    """The machine in one line: CPU, cores, memory, load."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    memory_gb = psutil.virtual_memory().total / 2**30
    return f"{model or 'unknown CPU'}, {os.cpu_count()} cores, {memory_gb:.0f} GB RAM, load average {load}"


def notebook_bytes(*sources: str) -> bytes:
    """A valid nbformat 4 notebook with one code cell per source."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return str(nbformat.writes(nb)).encode()  # type: ignore[no-untyped-call]


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
