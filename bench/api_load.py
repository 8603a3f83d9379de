"""Upload throughput: 50 concurrent clients posting a 1 MB notebook for 30 s, Labgrader's API against a bare endpoint.

    .venv/bin/python -m bench.api_load [--clients 50] [--seconds 30] [--rounds 2]

Both servers are real uvicorn processes on 127.0.0.1 (one worker each), started by this script: `labgrader serve`
with a fresh SQLite database, and `bench/bare_upload_app.py`, which only reads the same multipart upload. Rounds
alternate bare, labgrader, bare, labgrader... Each client is one student with its own token and loops until the
deadline (requests still in flight then are waited for and counted). Throughput counts 2xx answers per second.

The API runs as the API tier of the multi-machine deployment (`LABGRADER_QUEUE=celery`, its broker unreachable:
the publisher announces from a background thread and never holds a request), so no kernel competes for the two
cores; with the embedded executor every accepted upload would also be graded on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from bench import common
from bench.common import BENCH_ROOT, median, table
from bench.servers import add_students, free_port, labgrader_serve, prepare_server, server_env, uvicorn_app

LAB = "frameworks"


def notebook_of_size(size_bytes: int) -> bytes:
    """A valid nbformat 4 notebook of about `size_bytes`: code cells of ordinary source lines."""
    line = "x = [i * i for i in range(100)]  # a line of student code that is not short\n"
    per_cell = 40
    cells = max(1, size_bytes // (len(line) * per_cell + 120))
    nb = new_notebook(cells=[new_code_cell(line * per_cell) for _ in range(cells)])  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return str(nbformat.writes(nb)).encode()  # type: ignore[no-untyped-call]


@dataclass
class LoadResult:
    target: str
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if 200 <= code < 300)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _client(client: httpx.AsyncClient, url: str, token: str, body: bytes, deadline: float,
                  result: LoadResult) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = await client.post(url, headers=headers,
                                         files={"notebook": ("lab.ipynb", body, "application/x-ipynb+json")})
        except httpx.HTTPError:
            result.errors += 1
            continue
        result.latencies_s.append(time.perf_counter() - started)
        result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1


async def load(target: str, url: str, tokens: list[str], body: bytes, seconds: float) -> LoadResult:
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    result = LoadResult(target, seconds)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(_client(client, url, t, body, deadline, result) for t in tokens))
        result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--alt-repo", type=Path, default=None,
                        help="also load `labgrader serve` from this checkout (a proposed change), same rounds")
    args = parser.parse_args()
    common.ensure_lab_data()
    work = common.fresh_dir(BENCH_ROOT / "api")
    env = server_env(work, LABGRADER_QUEUE="celery", LABGRADER_BROKER_URL="amqp://guest:guest@127.0.0.1:1//")
    prepare_server(work, env)
    tokens = add_students(work, env, args.clients)
    body = notebook_of_size(int(args.size_mb * 2**20))
    print(f"machine: {common.machine()}; upload {len(body) / 2**20:.2f} MB, {args.clients} clients, "
          f"{args.seconds:g} s per round", flush=True)
    results: list[LoadResult] = []
    path = f"/api/v1/labs/{LAB}/submissions"
    for round_ in range(args.rounds):
        with uvicorn_app("bench.bare_upload_app:app", work, free_port()) as url:
            results.append(asyncio.run(load("bare FastAPI", url + path, tokens, body, args.seconds)))
        with labgrader_serve(work, env, free_port()) as url:
            results.append(asyncio.run(load("labgrader API", url + path, tokens, body, args.seconds)))
        if args.alt_repo is not None:
            with labgrader_serve(work, {**env, "PYTHONPATH": str(args.alt_repo)}, free_port()) as url:
                results.append(asyncio.run(load("labgrader API (alt)", url + path, tokens, body, args.seconds)))
        for r in results[-3 if args.alt_repo else -2:]:
            print(f"  round {round_ + 1} {r.target}: {r.ok / r.seconds:.1f} uploads/s, statuses {r.statuses}, "
                  f"errors {r.errors}", flush=True)
    rows, summary = [], {}
    for target in ("bare FastAPI", "labgrader API", "labgrader API (alt)"):
        mine = [r for r in results if r.target == target]
        if not mine:
            continue
        rate = median([r.ok / r.seconds for r in mine])
        p50 = median([r.percentile(0.50) for r in mine])
        p99 = median([r.percentile(0.99) for r in mine])
        summary[target] = rate
        rows.append([target, len(mine), sum(r.ok for r in mine), rate, p50 * 1000, p99 * 1000,
                     json.dumps({k: sum(r.statuses.get(k, 0) for r in mine) for k in sorted(
                         {c for r in mine for c in r.statuses})}), sum(r.errors for r in mine)])
    print(table(["server", "rounds", "accepted", "uploads/s (median)", "p50 ms", "p99 ms", "statuses", "errors"],
                rows))
    ratio = summary["labgrader API"] / summary["bare FastAPI"]
    print(f"throughput ratio labgrader/bare: {ratio:.2f} (target >= 0.70: {'met' if ratio >= 0.7 else 'MISSED'})")
    if "labgrader API (alt)" in summary:
        print(f"throughput ratio labgrader (alt)/bare: {summary['labgrader API (alt)'] / summary['bare FastAPI']:.2f}")
    print(f"machine after: {common.machine()}")


if __name__ == "__main__":
    main()
