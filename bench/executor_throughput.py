"""Embedded executor throughput with 1 and 2 concurrent jobs, cold and with warm kernels; peak memory per kernel.

    .venv/bin/python -m bench.executor_throughput [--submissions 6] [--notebook torch]

For each configuration a fresh `labgrader serve --jobs N` (own SQLite database, the bench's data and uid range)
gets `--submissions` uploads of the same small notebook at once; the clock runs from the first upload to the last
graded submission. With `LABGRADER_WARM_KERNELS=N` the server first warms its kernels (the lab's frameworks
imported), which the script waits for before uploading: the jobs then find them ready, as after an idle period.
Peak memory is the largest VmHWM of any sandboxed kernel process of the server, sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from bench import common
from bench.common import BENCH_ROOT, median, table
from bench.servers import add_user, free_port, labgrader_serve, prepare_server, server_env

NOTEBOOKS = {
    "trivial": "x = sum(range(10))\nprint(x)",
    "torch": "import torch\nx = torch.ones(3).sum()\nprint(float(x))",
    "tensorflow": "import tensorflow as tf\nx = tf.reduce_sum(tf.ones(3))\nprint(float(x))",
}
CONFIGS = [(1, 0), (2, 0), (1, 1), (2, 2)]


class KernelMemory:
    """The largest VmHWM among the sandboxed kernels under a process, and how many are idle and warmed."""

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def kernels(self) -> list[psutil.Process]:
        found = []
        for proc in self.root.children(recursive=True):
            try:
                if "ipykernel_launcher" in " ".join(proc.cmdline()) and proc.name().startswith("python"):
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in self.kernels():
                try:
                    with open(f"/proc/{proc.pid}/status") as fh:
                        for line in fh:
                            if line.startswith("VmHWM:"):
                                self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
                except OSError:
                    continue
            self._stop.wait(0.1)

    def __enter__(self) -> KernelMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _server_pid(work: Path) -> int:
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if "serve" in (proc.info["cmdline"] or []) and proc.info["cwd"] == str(work):
                return int(proc.pid)
        except psutil.Error:
            continue
    raise SystemExit("the server process was not found")


def _wait_warm(memory: KernelMemory, count: int, timeout_s: float = 300) -> float:
    """Wait until `count` kernels exist and have been idle (< 2% CPU) for a second; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        kernels = memory.kernels()
        if len(kernels) >= count:
            for k in kernels:
                k.cpu_percent(interval=None)
            time.sleep(1.0)
            busy = sum(k.cpu_percent(interval=None) for k in kernels)
            if busy < 2.0 * count:
                return time.monotonic() - started
        else:
            time.sleep(0.5)
    raise SystemExit(f"{count} warm kernels were not ready after {timeout_s:.0f} s")


def run_config(jobs: int, warm: int, notebook: bytes, submissions: int) -> dict[str, float]:
    work = common.fresh_dir(BENCH_ROOT / f"executor-{jobs}-{warm}")
    env = server_env(work, LABGRADER_WARM_KERNELS=str(warm), LABGRADER_POLL_INTERVAL_S="0.2")
    prepare_server(work, env)
    token = add_user(work, env, "student000", "student")
    with labgrader_serve(work, env, free_port(), jobs=jobs) as url, KernelMemory(_server_pid(work)) as memory, \
            httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        warm_up_s = _wait_warm(memory, warm) if warm else 0.0
        started = time.monotonic()
        ids = [client.post("/api/v1/labs/frameworks/submissions",
                           files={"notebook": ("nb.ipynb", notebook)}).json()["id"] for _ in range(submissions)]
        pending, finished = set(ids), {}
        while pending and time.monotonic() - started < 1200:
            for sid in list(pending):
                body = client.get(f"/api/v1/submissions/{sid}").json()
                if body["status"] in ("graded", "error"):
                    pending.discard(sid)
                    finished[sid] = body
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    if pending:
        raise SystemExit(f"jobs={jobs} warm={warm}: {len(pending)} submissions were not graded")
    errors = sum(1 for b in finished.values() if b["status"] != "graded")
    latencies = []
    for body in finished.values():
        created = body["created_at"]
        done = body["finished_at"]
        if created and done:
            latencies.append((datetime.fromisoformat(done) - datetime.fromisoformat(created)).total_seconds())
    return {"elapsed_s": elapsed, "per_min": submissions / elapsed * 60, "latency_s": median(latencies),
            "peak_mb": memory.peak_mb, "errors": errors, "warm_up_s": warm_up_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=6)
    parser.add_argument("--notebook", choices=sorted(NOTEBOOKS), default="torch")
    args = parser.parse_args()
    common.ensure_lab_data()
    notebook = common.notebook_bytes(NOTEBOOKS[args.notebook])
    print(f"machine: {common.machine()}; {args.submissions} submissions of the {args.notebook} notebook", flush=True)
    rows, base = [], None
    for jobs, warm in CONFIGS:
        r = run_config(jobs, warm, notebook, args.submissions)
        base = base or r["per_min"]
        rows.append([jobs, warm, r["elapsed_s"], r["per_min"], r["per_min"] / base, r["latency_s"], r["peak_mb"],
                     r["warm_up_s"], int(r["errors"])])
        print(f"  jobs={jobs} warm={warm}: {r['per_min']:.1f} submissions/min", flush=True)
    print(table(["jobs", "warm kernels", "elapsed s", "graded/min", "vs jobs=1 cold", "median latency s",
                 "peak kernel MB", "warm-up s", "errors"], rows))
    print(f"machine after: {common.machine()}")


if __name__ == "__main__":
    main()
