"""Real server processes on 127.0.0.1 for the HTTP benchmarks: `labgrader serve` and plain uvicorn apps."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.common import PYTHON, labgrader, labgrader_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up: {log.read_text()[-2000:]}")


@contextmanager
def _process(argv: list[str], env: dict[str, str], cwd: Path, probe: str, log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_up(probe, proc, log)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    """A `labgrader serve` environment with its own SQLite database in `workdir` and no rate limit."""
    return labgrader_env(LABGRADER_DATABASE_URL=f"sqlite:///{workdir / 'labgrader.db'}",
                         LABGRADER_SUBMISSIONS_PER_HOUR="0", **extra)


def prepare_server(workdir: Path, env: dict[str, str]) -> None:
    subprocess.run(labgrader("db", "upgrade"), env=env, cwd=workdir, check=True, capture_output=True)


def add_user(workdir: Path, env: dict[str, str], name: str, role: str) -> str:
    out = subprocess.run(labgrader("users", "add", name, "--role", role, "--json"), env=env, cwd=workdir,
                         check=True, capture_output=True, text=True)
    return str(json.loads(out.stdout)["token"])


def add_students(workdir: Path, env: dict[str, str], count: int) -> list[str]:
    roster = workdir / "roster.csv"
    roster.write_text("name,role\n" + "".join(f"student{i:03d},student\n" for i in range(count)))
    out = subprocess.run(labgrader("roster", "import", str(roster)), env=env, cwd=workdir, check=True,
                         capture_output=True, text=True)
    # the import's stdout is the new users' mail-merge CSV (`server.roster.importer.tokens_csv`): read it by header
    tokens = [row["token"] for row in csv.DictReader(io.StringIO(out.stdout))]
    if len(tokens) != count:
        raise RuntimeError(f"`labgrader roster import` gave {len(tokens)} tokens for {count} new students: "
                           f"{out.stderr[-500:]}")
    return tokens


@contextmanager
def labgrader_serve(workdir: Path, env: dict[str, str], port: int, jobs: int = 1) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    argv = labgrader("serve", "--port", str(port), "--jobs", str(jobs))
    with _process(argv, env, workdir, f"{url}/healthz", workdir / "serve.log"):
        yield url


@contextmanager
def uvicorn_app(app: str, workdir: Path, port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log"]
    env = labgrader_env()
    with _process(argv, env, workdir, f"{url}/docs", workdir / "uvicorn.log"):
        yield url
