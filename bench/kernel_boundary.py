"""What a hostile kernel costs the grading process: its memory, and its neighbours' kernel starts.

    .venv/bin/python -m bench.kernel_boundary [--neighbours 4] [--flood-s 40]

Run it twice in the same session, once with this tree first on PYTHONPATH (after) and once with a tree from before
the kernel driver (before); it prints one table per run. In one process, as a worker with two slots would:

- neighbour kernel start: an honest one-cell notebook graded `--neighbours` times in slot 1, first alone (baseline),
  then while slot 0 grades a notebook whose kernel floods its iopub socket with signed messages that decode into
  100,000 empty lists each (valid messages: the grader must read them). The table gives the median of the
  neighbour's `kernel_start` and whole-job time, and the ratio against the baseline of the same run;
- grading-process memory: the peak resident memory of this process (sampled every 50 ms) above its level before,
  while it grades a notebook that sends ten 7.5 MB messages of `[],[],...` (each decodes to ~26 times its size), and
  one that sends a single 60 MB message.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import threading
import time
from pathlib import Path

import psutil
from nbformat.v4 import new_code_cell, new_notebook

from bench.common import BENCH_ROOT, BENCH_UID_BASE
from grader.data.lab_data import LabData
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig, SandboxLimits
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR

HONEST = "print(sum(range(10)))"
FLOOD = """
import time
k = get_ipython().kernel
parent = k.get_parent()
pad = [[] for _ in range(100_000)]
end = time.time() + {seconds}
sent = 0
while time.time() < end:
    k.session.send(k.iopub_socket, 'stream', {{'name': 'stdout', 'text': '', 'pad': pad}}, parent=parent)
    sent += 1
print('sent', sent)
"""
AMPLIFY = """
import time
k = get_ipython().kernel
s = k.session
msg = s.msg('display_data', {{}}, parent=k.get_parent())
content = b'{{"data": {{"text/plain": "x"}}, "metadata": {{}}, "pad": [' + b'[],' * {count} + b'[]]}}'
for _ in range({messages}):
    msg['header']['msg_id'] = s.msg_id  # a fresh id and so a fresh signature each time
    parts = [s.pack(msg['header']), s.pack(msg['parent_header']), s.pack(msg['metadata']), content]
    k.iopub_socket.send_multipart([b'<IDS|MSG>', s.sign(parts), *parts])
time.sleep(2)
print('sent')
"""


class Peak:
    """Peak RSS of this process above its level at the start, sampled in a thread (the event loop may be busy)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.base = self.process.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def above_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _context(flood_s: float) -> GradingContext:
    data = BENCH_ROOT / "boundary-data"
    lab = LabData(data, "frameworks")
    spec = discover_labs(LABS_DIR)["frameworks"]
    if not (data / "labs" / "frameworks").exists():
        from grader.data.prepare import prepare_lab

        prepare_lab(lab, spec, LABS_DIR / "frameworks")
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    limits = SandboxLimits(memory_limit_mb=4096, max_processes=128, cpu_cores=1.0)
    return GradingContext(spec=spec, lab_data=lab, jobs_root=BENCH_ROOT / "boundary-jobs",
                          sandbox=SandboxConfig(limits=limits, uid_base=BENCH_UID_BASE + 300,
                                                cgroup_parent="labgrader-bench-boundary"),
                          cell_timeout_s=flood_s + 60, notebook_timeout_s=flood_s + 120, harness_timeout_s=60)


async def _grade(code: str, ctx: GradingContext, slot: int) -> tuple[float, float, str]:
    started = time.monotonic()
    outcome = await grade_notebook(new_notebook(cells=[new_code_cell(code)]), dataclasses.replace(ctx, slot=slot))
    return outcome.report.timings_s.get("kernel_start", float("nan")), time.monotonic() - started, \
        outcome.report.execution_note


async def _neighbours(ctx: GradingContext, runs: int) -> list[tuple[float, float, str]]:
    return [await _grade(HONEST, ctx, 1) for _ in range(runs)]


async def _beside_flood(ctx: GradingContext, runs: int, flood_s: float) -> tuple[list[tuple[float, float, str]], str]:
    flood = asyncio.ensure_future(_grade(FLOOD.format(seconds=flood_s), ctx, 0))
    await asyncio.sleep(5)  # the flood is under way
    neighbours = await _neighbours(ctx, runs)
    _, _, note = await flood
    return neighbours, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--neighbours", type=int, default=4)
    parser.add_argument("--flood-s", type=float, default=40)
    parser.add_argument("--memory-only", action="store_true", help="skip the neighbour measurement")
    args = parser.parse_args()
    ctx = _context(args.flood_s)
    import grader.kernel.execute

    print(f"grader from {Path(grader.kernel.execute.__file__).resolve().parent}")
    if not args.memory_only:
        _neighbour_table(ctx, args.neighbours, args.flood_s)
    for label, code in (("ten 7.5 MB messages of `[],`", AMPLIFY.format(count=2_500_000, messages=10)),
                        ("one 60 MB message of `[],`", AMPLIFY.format(count=20_000_000, messages=1))):
        with Peak() as peak:
            _, seconds, note = asyncio.run(_grade(code, ctx, 0))
        print(f"| grading process memory above its start, {label} | {peak.above_mb:.0f} MB | {seconds:.1f} s | "
              f"{note or 'no note'} |")


def _neighbour_table(ctx: GradingContext, neighbours: int, flood_s: float) -> None:
    alone = asyncio.run(_neighbours(ctx, neighbours))
    beside, flood_note = asyncio.run(_beside_flood(ctx, neighbours, flood_s))
    start_alone = statistics.median(r[0] for r in alone)
    start_beside = statistics.median(r[0] for r in beside)
    total_alone = statistics.median(r[1] for r in alone)
    total_beside = statistics.median(r[1] for r in beside)
    print(f"| neighbour's kernel start, alone | {start_alone:.2f} s | 1.00 |")
    print(f"| neighbour's kernel start, beside the flood | {start_beside:.2f} s | {start_beside / start_alone:.2f} |")
    print(f"| neighbour's whole job, alone | {total_alone:.2f} s | 1.00 |")
    print(f"| neighbour's whole job, beside the flood | {total_beside:.2f} s | {total_beside / total_alone:.2f} |")
    print(f"(the flooding job's note: {flood_note or 'none'})")


if __name__ == "__main__":
    main()
