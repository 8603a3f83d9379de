"""Time-to-feedback under a burst (issue 27 item 3): submissions from many students over a minute, a mix of reference
solutions and small notebooks, on `labgrader serve --jobs 2`, cold and with warm kernels.

    .venv/bin/python -m bench.burst [--submissions 30] [--students 15] [--over-s 60] [--solutions 10]

Arrivals are spread evenly over `--over-s` seconds (student i % students sends submission i); `--solutions` of them
(evenly placed) are the frameworks lab's PyTorch reference solution, the rest small notebooks (a print, a torch sum).
Time-to-feedback is the ledger's submitted -> finished; each job's own run time is its started -> finished. The ideal
schedule runs the same jobs, with those run times and the same arrivals, on the same number of slots with no
overhead, first come first served; the table compares p50/p95 against it. Slot utilisation is the slots' busy
seconds over the slots' seconds from the first start to the last finish, measured and ideal; the verdict holds the
measured utilisation to 0.9 or, where the ideal schedule of the same jobs cannot reach 0.9 itself, to the ideal's
own (`IDEAL_UTILISATION_SLACK`). The load average is printed before and after each configuration: this machine is
shared.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from bench import common
from bench.common import BENCH_ROOT, REPO, table
from bench.servers import add_user, free_port, labgrader_serve, prepare_server, server_env

SOLUTION = REPO / "lab_tasks" / "frameworks" / "solutions" / "solution_pytorch.ipynb"
SMALL = ("x = sum(range(10))\nprint(x)", "import torch\nx = torch.ones(3).sum()\nprint(float(x))")
TARGET_P95 = 1.1  # issue 27: p95 time-to-feedback at most 1.1x the ideal schedule's
TARGET_UTILISATION = 0.9
# a mix whose ideal schedule itself stays under 0.9 (long jobs last, nothing queued behind them) bounds the slots'
# utilisation: the scheduler meets the target when it keeps what the ideal keeps, within this much
IDEAL_UTILISATION_SLACK = 0.02


@dataclass(frozen=True)
class Job:
    kind: str
    arrival_s: float  # since the burst began
    run_s: float
    feedback_s: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def ideal(jobs: list[Job], slots: int) -> tuple[list[float], float]:
    """Each job's time-to-feedback on `slots` overhead-free slots, first come first served, and their utilisation."""
    free = [0.0] * slots
    heapq.heapify(free)
    feedback, first, last = [], float("inf"), 0.0
    for job in sorted(jobs, key=lambda j: j.arrival_s):
        start = max(heapq.heappop(free), job.arrival_s)
        end = start + job.run_s
        heapq.heappush(free, end)
        feedback.append(end - job.arrival_s)
        first, last = min(first, start), max(last, end)
    busy = sum(j.run_s for j in jobs)
    return feedback, busy / (slots * (last - first)) if last > first else 0.0


def verdict(p95_ratio: float, utilisation: float, ideal_utilisation: float) -> str:
    """p95 against the ideal, and utilisation against 0.9 or, where the mix keeps the ideal below it, the ideal's."""
    p95 = f"p95 {'met' if p95_ratio <= TARGET_P95 else 'MISSED'}"
    if utilisation >= TARGET_UTILISATION:
        return f"{p95}; utilisation met"
    bound = min(TARGET_UTILISATION, ideal_utilisation) - IDEAL_UTILISATION_SLACK
    if ideal_utilisation < TARGET_UTILISATION and utilisation >= bound:
        return f"{p95}; utilisation met against the ideal's {ideal_utilisation:.2f} (the mix's bound)"
    return f"{p95}; utilisation MISSED ({utilisation:.2f} < {max(bound, 0):.2f})"


def _seconds(body: dict[str, object], key: str) -> datetime:
    return datetime.fromisoformat(str(body[key]))


def run_config(args: argparse.Namespace, warm: int) -> tuple[list[Job], float, str, str]:
    work = common.fresh_dir(BENCH_ROOT / f"burst-{warm}")
    env = server_env(work, LABGRADER_WARM_KERNELS=str(warm), LABGRADER_POLL_INTERVAL_S="0.2")
    prepare_server(work, env)
    tokens = [add_user(work, env, f"student{i:03d}", "student") for i in range(args.students)]
    solution = SOLUTION.read_bytes()
    step = max(1, args.submissions // max(1, args.solutions)) if args.solutions else 0
    plan = []
    for i in range(args.submissions):
        placed = sum(1 for p in plan if p[0] == "solution")
        is_solution = bool(step) and i % step == step // 2 and placed < args.solutions
        body = solution if is_solution else common.notebook_bytes(SMALL[i % len(SMALL)])
        plan.append(("solution" if is_solution else "small", i * args.over_s / max(1, args.submissions - 1), body,
                     tokens[i % len(tokens)]))
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with labgrader_serve(work, env, free_port(), jobs=args.slots) as url, httpx.Client(base_url=url, timeout=60) as c:
        if warm:
            time.sleep(args.warm_up_s)  # let the pool warm its kernels, as after an idle period
        began = time.monotonic()
        sent: list[tuple[str, int, str]] = []
        for kind, at, body, token in plan:
            time.sleep(max(0.0, at - (time.monotonic() - began)))
            response = c.post("/api/v1/labs/frameworks/submissions", files={"notebook": ("nb.ipynb", body)},
                              headers={"Authorization": f"Bearer {token}"})
            response.raise_for_status()
            sent.append((kind, int(response.json()["id"]), token))
        finished: dict[int, dict[str, object]] = {}
        while len(finished) < len(sent) and time.monotonic() - began < args.timeout_s:
            for _, sid, token in sent:
                if sid in finished:
                    continue
                body = c.get(f"/api/v1/submissions/{sid}", headers={"Authorization": f"Bearer {token}"}).json()
                if body["status"] in ("graded", "error"):
                    finished[sid] = body
            time.sleep(0.5)
    if len(finished) < len(sent):
        raise SystemExit(f"warm={warm}: {len(sent) - len(finished)} submissions were not graded in {args.timeout_s} s")
    created0 = min(_seconds(b, "created_at") for b in finished.values())
    jobs = []
    for kind, sid, _ in sent:
        body = finished[sid]
        created, started, done = (_seconds(body, k) for k in ("created_at", "started_at", "finished_at"))
        jobs.append(Job(kind, (created - created0).total_seconds(), (done - started).total_seconds(),
                        (done - created).total_seconds()))
    first_start = min(_seconds(b, "started_at") for b in finished.values())
    last_done = max(_seconds(b, "finished_at") for b in finished.values())
    utilisation = sum(j.run_s for j in jobs) / (args.slots * (last_done - first_start).total_seconds())
    errors = [sid for sid, b in finished.items() if b["status"] != "graded"]
    if errors:
        print(f"  warm={warm}: submissions {errors} ended in error", flush=True)
    return jobs, utilisation, load_before, ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=30)
    parser.add_argument("--students", type=int, default=15)
    parser.add_argument("--over-s", type=float, default=60.0)
    parser.add_argument("--solutions", type=int, default=10, help="how many of them are the reference solution")
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--warm", default="0,2", help="warm-kernel counts to measure")
    parser.add_argument("--warm-up-s", type=float, default=60.0)
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    common.ensure_lab_data()
    print(f"machine: {common.machine()}", flush=True)
    rows, records = [], []
    for warm in (int(w) for w in args.warm.split(",")):
        jobs, utilisation, before, after = run_config(args, warm)
        ideal_feedback, ideal_utilisation = ideal(jobs, args.slots)
        measured = [j.feedback_s for j in jobs]
        p50, p95 = percentile(measured, 0.5), percentile(measured, 0.95)
        i50, i95 = percentile(ideal_feedback, 0.5), percentile(ideal_feedback, 0.95)
        by_kind = {k: statistics.median([j.run_s for j in jobs if j.kind == k]) for k in {j.kind for j in jobs}}
        rows.append([warm, len(jobs), p50, i50, p50 / i50, p95, i95, p95 / i95, utilisation, ideal_utilisation,
                     by_kind.get("solution", float("nan")), by_kind.get("small", float("nan")),
                     verdict(p95 / i95, utilisation, ideal_utilisation), before, after])
        records.append({"warm": warm, "jobs": [j.__dict__ for j in jobs], "utilisation": utilisation,
                        "ideal_utilisation": ideal_utilisation, "load_before": before, "load_after": after})
        print(f"  warm={warm} done", flush=True)
    print(table(["warm kernels", "jobs", "p50 s", "ideal p50 s", "p50/ideal", "p95 s", "ideal p95 s", "p95/ideal",
                 "utilisation", "ideal utilisation", "solution run s", "small run s",
                 f"p95 <= {TARGET_P95}x ideal; utilisation >= {TARGET_UTILISATION} or the ideal's", "load before",
                 "load after"], rows))
    print(f"machine after: {common.machine()}")
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
