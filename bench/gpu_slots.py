"""GPU slots (issue 27 item 5): jobs per GPU-hour for the frameworks lab's reference solutions with K jobs per GPU,
each capped at its share of the card's memory, against the same solution on a CPU slot. Run it on a GPU worker.

    .venv/bin/python -m bench.gpu_slots [--gpu 0] [--per-gpu 1,2,4] [--rounds 2] [--solutions pytorch]

For each K the script grades K copies of the solution at once on K slots of one GPU (the slots `labgrader worker
--gpus 0 --jobs-per-gpu K` makes: `server.jobs.celery_worker.plan_slots`, `LABGRADER_TORCH_MEMORY_FRACTION` =
0.95/K), `--rounds` times back to back, and prints: the median job wall time, the CPU time each job used (the job
cgroup's cpuacct), jobs per GPU-hour (K * 3600 / wall), the card's peak memory used during the round
(`nvidia-smi --query-gpu=memory.used`, sampled every 0.5 s) and its mean utilisation (`utilization.gpu`). The CPU
row grades the same solution on a CPU slot with one math thread, the baseline the speed-up is measured against.
docs/performance.md ("GPU slots") has the calculation these numbers check. Every report must score 100: a lower
score means the slot's memory cap or the device broke the solution, and the row says so.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import subprocess
import threading
import time

import nbformat

from bench import common
from bench.common import BENCH_ROOT, BENCH_UID_BASE, REPO, table
from grader.data.lab_data import LabData
from grader.kernel.slot import Slot
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from server.jobs.celery_worker import plan_slots

SOLUTIONS = REPO / "lab_tasks" / "frameworks" / "solutions"


class GpuSampler:
    """Peak memory used (MB) and mean utilisation (%) of one GPU while a round runs, from nvidia-smi."""

    def __init__(self, gpu: str) -> None:
        self.gpu = gpu
        self.peak_mb = 0.0
        self.utilisation: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            out = subprocess.run(["nvidia-smi", f"--id={self.gpu}", "--query-gpu=memory.used,utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
            try:
                used, util = (float(v) for v in out.stdout.strip().split(","))
            except ValueError:
                continue
            self.peak_mb = max(self.peak_mb, used)
            self.utilisation.append(util)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


async def grade_on(slot: Slot, base: GradingContext, nb_bytes: bytes) -> tuple[float, float, float]:
    """(wall s, job CPU s, score) of one grading run on `slot`."""
    ctx = dataclasses.replace(base, slot=slot.index, extra_env=slot.environment(), devices=slot.devices(),
                              device_label=slot.device_label)
    nb = nbformat.reads(nb_bytes.decode(), as_version=4)  # type: ignore[no-untyped-call]
    started = time.monotonic()
    outcome = await grade_notebook(nb, ctx)
    wall = time.monotonic() - started
    cpu = outcome.report.timings_s.get("cells_cpu", float("nan"))
    return wall, cpu, outcome.report.score


async def _main(args: argparse.Namespace) -> None:
    if shutil.which("nvidia-smi") is None:
        raise SystemExit("no nvidia-smi on this host: run this benchmark on a GPU worker")
    common.ensure_lab_data()
    spec = discover_labs(LABS_DIR)["frameworks"]
    base = GradingContext(spec=spec, lab_data=LabData(BENCH_ROOT / "data", spec.id), jobs_root=BENCH_ROOT / "jobs",
                          sandbox=SandboxConfig(uid_base=BENCH_UID_BASE))
    print(f"machine: {common.machine()}", flush=True)
    rows = []
    for name in args.solutions.split(","):
        nb_bytes = (SOLUTIONS / f"solution_{name}.ipynb").read_bytes()
        cpu_slot = Slot(index=0, cpu_threads=1)
        runs = [await grade_on(cpu_slot, base, nb_bytes) for _ in range(args.rounds)]
        walls, cpus, scores = [r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs]
        cpu_wall = statistics.median(walls)
        rows.append([name, "cpu (1 thread)", 1, cpu_wall, statistics.median(cpus), 3600 / cpu_wall, 1.0, "-", "-",
                     min(scores)])
        for per_gpu in (int(k) for k in args.per_gpu.split(",")):
            slots = plan_slots(0, [args.gpu], per_gpu)
            walls, cpus, scores = [], [], []
            with GpuSampler(args.gpu) as sampler:
                for _ in range(args.rounds):
                    results = await asyncio.gather(*(grade_on(s, base, nb_bytes) for s in slots))
                    walls += [r[0] for r in results]
                    cpus += [r[1] for r in results]
                    scores += [r[2] for r in results]
            wall = statistics.median(walls)
            util = statistics.mean(sampler.utilisation) if sampler.utilisation else float("nan")
            rows.append([name, f"gpu {args.gpu}, {per_gpu} per GPU (memory cap {slots[0].gpu_memory_fraction:.3f})",
                         per_gpu, wall, statistics.median(cpus), per_gpu * 3600 / wall, cpu_wall / wall,
                         sampler.peak_mb, util, min(scores)])
            print(f"  {name}: {per_gpu} per GPU done", flush=True)
    print(table(["solution", "slot", "jobs at once", "job wall s", "job CPU s", "jobs/hour", "speed-up per job",
                 "GPU peak MB", "GPU util %", "lowest score"], rows))
    print(f"machine after: {common.machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", default="0")
    parser.add_argument("--per-gpu", default="1,2,4", help="jobs per GPU to measure")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--solutions", default="pytorch,keras")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
