"""Fair limits (issue 27 item 1): a notebook whose training the cell limit cuts, graded alone and beside CPU hogs,
with the limits counted in wall-clock time (before) and in the job's own CPU time (after), in one run.

    .venv/bin/python -m bench.fair_limits [--cell-limit 15] [--runs 1] [--hog-s 600] [--ways all]

The notebook trains a small network on the lab's data epoch by epoch for ever and records its history; the cell limit
cuts it. "Beside hogs" starts one bounded busy-loop process per core (each ends by itself after `--hog-s`) in the
bench's own cgroup, outside the job's. "before" is the wall-clock clock the limits had until issue 27: the bench hands
the driver no CPU counter (`JobCgroup.cpu_usage_file` returns None for those runs), which is exactly what a host
without cgroup v1 cpuacct gets. The table shows the epochs trained when the cut struck, the score, the accuracy check
and the wall and CPU seconds the cut cell ran; the load average is printed before and after each row (this machine
is shared). Target: with CPU-time limits the epochs at the cut and the score agree alone and beside hogs within the
stated tolerance (`EPOCH_TOLERANCE`, `SCORE_TOLERANCE`).

"starved" (the backstop's before/after): the bench pins itself, so the job it starts, and `--starve-hogs` busy loops
onto one core, which gives the job less than a third of it. "backstop in wall" is the backstop before it left out the
job's wait for a CPU (the bench's job cgroup lists no threads, so the wait reads zero): the 3x wall-clock backstop
strikes before the CPU-time limit. "backstop less wait" is the grader as it is: the CPU-time limit strikes, and the
epochs agree with "alone". `--ways` picks rows by number (1-6, as printed) to run fewer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import nbformat

from bench import common
from bench.common import BENCH_ROOT, BENCH_UID_BASE, median, table
from grader.data.lab_data import LabData
from grader.kernel.slot import Slot
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox import cgroups
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR

EPOCH_TOLERANCE = 0.15  # the epochs at the cut agree within 15% alone and beside hogs
SCORE_TOLERANCE = 2.0  # points of the lab's 100

TRAINING = """
import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
with np.load('data/mnist.npz') as visible:
    x_train, y_train, x_test, y_test = (visible[k] for k in ('x_train', 'y_train', 'x_test', 'y_test'))
X = torch.tensor(x_train[:3000].reshape(3000, -1) / 255.0, dtype=torch.float32)
Y = torch.tensor(y_train[:3000], dtype=torch.long)
Xv = torch.tensor(x_test[:1000].reshape(1000, -1) / 255.0, dtype=torch.float32)
Yv = torch.tensor(y_test[:1000], dtype=torch.long)
mnist_multi_model = nn.Sequential(nn.Linear(X.shape[1], 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                  nn.Linear(64, 10))
optimizer = torch.optim.SGD(mnist_multi_model.parameters(), lr=0.02)
mnist_multi_history = {'loss': [], 'val_loss': []}
"""
ENDLESS = """
epoch = 0
while True:
    total = 0.0
    for start in range(0, len(X), 16):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(mnist_multi_model(X[start:start + 16]), Y[start:start + 16])
        loss.backward()
        optimizer.step()
        total += float(loss) * len(X[start:start + 16])
    with torch.no_grad():
        val = float(nn.functional.cross_entropy(mnist_multi_model(Xv), Yv))
    mnist_multi_history['loss'].append(total / len(X))
    mnist_multi_history['val_loss'].append(val)
    epoch += 1
    print('epoch', epoch, flush=True)
"""
HOG = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


@dataclass
class Row:
    clock: str
    neighbours: str
    epochs: list[int]
    scores: list[float]
    accuracy: list[float]
    wall_s: list[float]
    cpu_s: list[float]
    load_before: str
    load_after: str
    struck: list[str]


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def hogs(count: int, seconds: float) -> Iterator[None]:
    """`count` busy loops, each ending by itself after `seconds`; killed on the way out."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG.format(s=seconds)]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)


@contextlib.contextmanager
def starved(count: int, seconds: float) -> Iterator[None]:
    """This process (so the job it starts) and `count` busy loops pinned onto one core; the affinity back after."""
    before = os.sched_getaffinity(0)
    core = min(before)
    os.sched_setaffinity(0, {core})
    procs = [subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", HOG.format(s=seconds)])
             for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def plain_wall_backstop(enabled: bool) -> Iterator[None]:
    """The backstop as it was before it left out the wait for a CPU: the job lists no threads, so the wait is 0."""
    if not enabled:
        yield
        return
    original = cgroups.JobCgroup.threads
    cgroups.JobCgroup.threads = lambda self: []  # type: ignore[method-assign]
    try:
        yield
    finally:
        cgroups.JobCgroup.threads = original  # type: ignore[method-assign]


@contextlib.contextmanager
def wall_clock_limits(enabled: bool) -> Iterator[None]:
    """The limits as they were before issue 27 (and on a host without cpuacct): the driver gets no CPU counter."""
    if not enabled:
        yield
        return
    original = cgroups.JobCgroup.cpu_usage_file
    cgroups.JobCgroup.cpu_usage_file = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        cgroups.JobCgroup.cpu_usage_file = original  # type: ignore[method-assign]


async def grade_once(ctx: GradingContext) -> tuple[int, float, float, float, float, str]:
    nb = nbformat.reads(common.notebook_bytes(TRAINING, ENDLESS).decode(), as_version=4)  # type: ignore[no-untyped-call]
    outcome = await grade_notebook(nb, ctx)
    report = outcome.report
    cutoff = report.cutoff
    if cutoff is None:
        errors = "; ".join(e.describe() for e in report.cell_errors)
        raise SystemExit(f"the limit did not cut the training: {report.execution_note!r} {errors}")
    epochs = len(report.history.get("mnist_multi_history", {}).get("val_loss", []))
    accuracy = next((c.measured for c in report.checks if c.id == "mnist_multi_layer_accuracy"), None)
    return (epochs, report.score, float(accuracy or 0.0), cutoff.ran_s,
            cutoff.cpu_s if cutoff.cpu_s is not None else float("nan"), cutoff.clock)


async def _main(args: argparse.Namespace) -> None:
    common.ensure_lab_data()
    spec = discover_labs(LABS_DIR)["frameworks"]
    ctx = GradingContext(spec=spec, lab_data=LabData(BENCH_ROOT / "data", spec.id), jobs_root=BENCH_ROOT / "jobs",
                         sandbox=SandboxConfig(uid_base=BENCH_UID_BASE), cell_timeout_s=args.cell_limit,
                         notebook_timeout_s=args.cell_limit * 20,
                         extra_env=Slot(index=0, cpu_threads=1).environment())
    print(f"machine: {common.machine()}", flush=True)
    cores = os.cpu_count() or 1
    ways = [("wall (before)", "alone"), ("wall (before)", f"{cores} hogs"), ("cpu (after)", "alone"),
            ("cpu (after)", f"{cores} hogs"), ("cpu, backstop in wall (before)", f"starved: {args.starve_hogs} hogs"),
            ("cpu, backstop less wait (after)", f"starved: {args.starve_hogs} hogs")]
    chosen = range(1, len(ways) + 1) if args.ways == "all" else [int(w) for w in args.ways.split(",")]
    rows = []
    for number in chosen:
        clock, neighbours = ways[number - 1]
        row = Row(f"{number}. {clock}", neighbours, [], [], [], [], [], load(), "", [])
        for _ in range(args.runs):
            beside: contextlib.AbstractContextManager[None]
            if neighbours.startswith("starved"):
                beside = starved(args.starve_hogs, args.hog_s)
            elif neighbours != "alone":
                beside = hogs(cores, args.hog_s)
            else:
                beside = contextlib.nullcontext()
            with wall_clock_limits(clock.startswith("wall")), plain_wall_backstop("backstop in wall" in clock), \
                    beside:
                epochs, score, accuracy, wall_s, cpu_s, struck = await grade_once(ctx)
            row.epochs.append(epochs)
            row.scores.append(score)
            row.accuracy.append(accuracy)
            row.wall_s.append(wall_s)
            row.cpu_s.append(cpu_s)
            row.struck.append(struck)
            print(f"  {clock}, {neighbours}: {epochs} epochs, score {score:g}, accuracy {accuracy:.3f}, cut by the "
                  f"{struck} clock after {wall_s:.1f} s wall / {cpu_s:.1f} s CPU (load {load()})", flush=True)
        row.load_after = load()
        rows.append(row)
    print(table(["limits in", "beside", "struck", "epochs at the cut", "score", "accuracy", "cell wall s",
                 "cell CPU s", "load before", "load after"],
                [[r.clock, r.neighbours, "/".join(sorted(set(r.struck))), median(r.epochs), median(r.scores),
                  median(r.accuracy), median(r.wall_s), median(r.cpu_s), r.load_before, r.load_after]
                 for r in rows]))
    by_way = {r.clock.split(". ", 1)[1] + " | " + r.neighbours: r for r in rows}
    comparisons = [("wall (before)", "wall (before) | alone", f"wall (before) | {cores} hogs"),
                   ("cpu (after)", "cpu (after) | alone", f"cpu (after) | {cores} hogs"),
                   ("starved, backstop in wall (before)", "cpu (after) | alone",
                    f"cpu, backstop in wall (before) | starved: {args.starve_hogs} hogs"),
                   ("starved, backstop less wait (after)", "cpu (after) | alone",
                    f"cpu, backstop less wait (after) | starved: {args.starve_hogs} hogs")]
    for name, alone_key, busy_key in comparisons:
        if alone_key not in by_way or busy_key not in by_way:
            continue
        alone, busy = by_way[alone_key], by_way[busy_key]
        epoch_ratio = median(busy.epochs) / max(1.0, median(alone.epochs))
        score_gap = abs(median(busy.scores) - median(alone.scores))
        met = abs(1 - epoch_ratio) <= EPOCH_TOLERANCE and score_gap <= SCORE_TOLERANCE
        print(f"{name}: epochs beside hogs / alone = {epoch_ratio:.2f}, score difference {score_gap:.2f} points, "
              f"struck by the {'/'.join(sorted(set(busy.struck)))} clock (tolerance {EPOCH_TOLERANCE:.0%} and "
              f"{SCORE_TOLERANCE:g} points: {'met' if met else 'MISSED'})")
    print(f"machine after: {common.machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-limit", type=float, default=15.0, help="the lab's cell limit for the run (s)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each of the four ways (median)")
    parser.add_argument("--hog-s", type=float, default=600.0, help="each hog ends by itself after this long")
    parser.add_argument("--starve-hogs", type=int, default=5, help="busy loops on the starved job's core")
    parser.add_argument("--ways", default="all", help="rows to run, by number (e.g. 3,5,6), or all")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
