"""Shared fixtures: a real `labgrader serve` process on 127.0.0.1 with its own SQLite database and data dir."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent
LABGRADER = [sys.executable, "-m", "server.cli.main"]

IRIS_CODE = """
import torch
from sklearn.datasets import load_iris
X, y = load_iris(return_X_y=True)
X = torch.tensor(X, dtype=torch.float32); y = torch.tensor(y)
torch.manual_seed(0)
iris_model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
opt = torch.optim.Adam(iris_model.parameters(), lr=0.05)
for epoch in range(200):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(iris_model(X), y)
    loss.backward()
    opt.step()
print("final loss", round(float(loss), 3))
"""


def notebook_bytes(*sources: str) -> bytes:
    """A valid nbformat 4 notebook with one code cell per source."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running `labgrader serve` and the environment it was started with."""

    url: str
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LABGRADER, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              check=check, timeout=600)

    def add_user(self, name: str, role: str = "student") -> str:
        out = self.cli("users", "add", name, "--role", role, "--json")
        return str(json.loads(out.stdout)["token"])

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def start(self, timeout_s: float = 60) -> None:
        port = self.url.rsplit(":", 1)[1]
        self.log_path = self.workdir / "serve.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([*LABGRADER, "serve", "--port", port], cwd=self.workdir, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"labgrader serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"labgrader serve did not come up: {self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def wait_for(self, token: str, submission_id: int, timeout_s: float = 300,
                 statuses: tuple[str, ...] = ("graded", "error")) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        with self.client(token) as client:
            while time.monotonic() < deadline:
                body = client.get(f"/api/v1/submissions/{submission_id}").json()
                if body["status"] in statuses:
                    return dict(body)
                time.sleep(0.3)
        raise AssertionError(f"submission {submission_id} did not reach {statuses} in {timeout_s} s: {body}")


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGRADER_")}
    env.update({
        "LABGRADER_DATABASE_URL": f"sqlite:///{workdir / 'labgrader.db'}",
        "LABGRADER_DATA_DIR": str(workdir / "data"),
        "LABGRADER_SUBMISSIONS_PER_HOUR": "0",
        "LABGRADER_LEASE_S": "10",
        "LABGRADER_POLL_INTERVAL_S": "0.2",
        "PYTHONPATH": str(REPO),
    })
    env.update(extra)
    return env


T = TypeVar("T")


def until(what: str, condition: Callable[[], T], timeout_s: float = 60, every_s: float = 0.2) -> T:
    """Poll `condition` every `every_s` until it returns something true, and return that; fail naming `what` after
    `timeout_s` (every wait on a live server is bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"{what} did not happen in {timeout_s} s")


def make_server(tmp_path: Path, **extra: str) -> LiveServer:
    workdir = tmp_path / "server"
    workdir.mkdir(exist_ok=True)
    server = LiveServer(url=f"http://127.0.0.1:{free_port()}", workdir=workdir, env=server_env(workdir, **extra))
    server.cli("db", "upgrade")
    return server


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server per test (SQLite in tmp_path, embedded executor, 4 s leases)."""
    server = make_server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for a whole test module, for tests that don't restart it."""
    server = make_server(tmp_path_factory.mktemp("shared"))
    server.start()
    yield server
    server.stop()


# Parallel runs (pytest-xdist, `-n auto` in pyproject.toml). A test goes to whichever worker is free, except where it
# shares something with other tests that must stay on one worker:
SERIAL_GROUPS = {
    # PostgreSQL and RabbitMQ: tests/services stops and restarts both, which would fail any other test using them
    "services": lambda item: item.get_closest_marker("services") is not None,
    # sandbox uid base 62000: the hostile suite and the warm-pool tests assert exact uids and that none of the
    # suite's processes or cgroups are left, which another worker's live job there would contradict
    "uids-62000": lambda item: "tests/grader/hostile/" in item.nodeid
    or item.nodeid.startswith("tests/grader/kernel/test_warm_pool.py"),
    # docs/architecture.md: written by test_import_arrows, also when test_parallel_groups runs that module itself
    "import-arrows": lambda item: item.nodeid.startswith(
        ("tests/test_import_arrows.py", "tests/test_parallel_groups.py")),
}


def _xdist_group(item: pytest.Item) -> str | None:
    """The group that keeps `item` on one worker with the tests it shares a resource or an expensive fixture with."""
    for group, belongs in SERIAL_GROUPS.items():
        if belongs(item):
            return group
    info = getattr(item, "_fixtureinfo", None)
    scopes = {d.scope for defs in (info.name2fixturedefs.values() if info else ()) for d in defs}
    if "package" in scopes:  # one Chromium per package (tests/browser), one per worker otherwise
        return item.nodeid.split("::", 1)[0].rsplit("/", 1)[0]
    if "module" in scopes:  # a module's live server or trained networks are made once, not once per worker
        return item.nodeid.split("::", 1)[0]
    return None


GROUPS_FILE = "xdist-groups.json"  # in the run's temporary root: each worker's nodeid -> group, for the controller


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In each xdist worker: write every test's group where the controller's scheduler reads it. (xdist's own
    `xdist_group` does not reach the scheduler under pytest 9.2, which derives `nodeid` from `_id`.)"""
    if not hasattr(config, "workerinput"):
        return
    groups = {item.nodeid: group for item in items if (group := _xdist_group(item)) is not None}
    root = Path(str(config.option.basetemp)).parent  # the worker's basetemp is <run root>/popen-gwN
    worker = config.workerinput["workerid"]
    partial = root / f"{GROUPS_FILE}.{worker}"
    partial.write_text(json.dumps(groups))
    partial.replace(root / f"{GROUPS_FILE.removesuffix('.json')}-{worker}.json")


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist, this conftest still loads
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Load scheduling in which the tests of one group go to one worker and every other test goes where it fits."""
    from xdist.scheduler import LoadScopeScheduling

    root = Path(str(config.option.basetemp))

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                found = sorted(root.glob(f"{GROUPS_FILE.removesuffix('.json')}-*.json"))
                if not found:
                    raise RuntimeError(f"no worker wrote its test groups into {root}")
                self.groups = json.loads(found[0].read_text())
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """A short temporary root for the run: a kernel's Unix sockets live in its job directory under `tmp_path`, and a
    socket path has at most 107 bytes; pytest's `/tmp/pytest-of-root/pytest-NNN/popen-gwN/<test name>/jobs/...`
    outgrows that (xdist adds `popen-gwN`, NNN keeps counting). Workers get `<root>/popen-gwN` from the controller."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="lgt-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that passed leaves nothing behind; a failed one keeps its temporary files and says where."""
    config = session.config
    basetemp = Path(str(config.option.basetemp))
    if hasattr(config, "workerinput") or not basetemp.name.startswith("lgt-"):
        return
    if exitstatus == 0:
        shutil.rmtree(basetemp, ignore_errors=True)
    else:
        config.get_terminal_writer().line(f"temporary files of this run kept in {basetemp}")
