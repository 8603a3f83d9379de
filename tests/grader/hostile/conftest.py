"""Fixtures for the hostile-notebook suite: real lab data, a service-like data dir, a secret in the worker's
environment, a real TCP listener on the host, and a grading context with small limits."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from grader.data.lab_data import LabData
from grader.pipeline import GradingContext
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.grader.hostile.hostile_env import (
    CELL_TIMEOUT_S,
    NOTEBOOK_TIMEOUT_S,
    SECRET,
    SUITE_LIMITS,
    Listener,
    ServiceFiles,
)
from tests.lab_data import frameworks_data


@pytest.fixture(scope="session")
def service_files(tmp_path_factory: pytest.TempPathFactory) -> ServiceFiles:
    """A data dir like the service's: lab data (hidden split included), a database file and another job's files."""
    root = tmp_path_factory.mktemp("service")
    data_dir = root / "labgrader-data"
    frameworks_data(data_dir, mnist=None)
    db_file = data_dir / "labgrader.db"
    db_file.write_text(SECRET)
    jobs_root = root / "jobs"
    decoy = jobs_root / "job-0123456789abcdef" / "work"
    decoy.mkdir(parents=True)
    (decoy / "answers.txt").write_text("another student's notebook")
    (decoy / ".kernel").mkdir()  # another job's kernel runtime: what a planted link would make root clean up
    (decoy / ".kernel" / "connection.json").write_text("{}")
    return ServiceFiles(data_dir, db_file, jobs_root, decoy)


@pytest.fixture(scope="session")
def secret_in_environment() -> Iterator[str]:
    """The worker holds a database URL in its environment, as the real service does."""
    previous = os.environ.get("LABGRADER_DATABASE_URL")
    os.environ["LABGRADER_DATABASE_URL"] = SECRET
    yield SECRET
    if previous is None:
        del os.environ["LABGRADER_DATABASE_URL"]
    else:
        os.environ["LABGRADER_DATABASE_URL"] = previous


@pytest.fixture(scope="session")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    unix_path = tmp_path_factory.mktemp("host-socket") / "service.sock"
    unix_server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_server.bind(str(unix_path))
    unix_server.listen(8)
    unix_server.settimeout(0.2)
    os.chmod(unix_path, 0o777)  # anyone may connect: only where the grader connects matters
    result = Listener(server.getsockname()[1], [], str(unix_path))
    stop = threading.Event()

    def accept(sock: socket.socket, seen: list[Any]) -> None:
        while not stop.is_set():
            try:
                conn, peer = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            seen.append(peer)
            conn.close()

    threads = [threading.Thread(target=accept, args=(server, result.accepted), daemon=True),
               threading.Thread(target=accept, args=(unix_server, result.unix_accepted), daemon=True)]
    for thread in threads:
        thread.start()
    yield result
    stop.set()
    for thread in threads:
        thread.join()
    server.close()
    unix_server.close()


@pytest.fixture(scope="session")
def hostile_context(service_files: ServiceFiles, secret_in_environment: str) -> GradingContext:
    """The frameworks lab restricted to its Iris check, with small limits so the suite stays fast."""
    spec = discover_labs(LABS_DIR)["frameworks"]
    iris_only = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    sandbox = SandboxConfig(limits=SUITE_LIMITS, uid_base=62000, cgroup_parent="labgrader-hostile-suite")
    _remove_empty_job_cgroups(sandbox)
    return GradingContext(
        spec=iris_only, lab_data=LabData(service_files.data_dir, "frameworks"), jobs_root=service_files.jobs_root,
        sandbox=sandbox, slot=7,
        cell_timeout_s=CELL_TIMEOUT_S, notebook_timeout_s=NOTEBOOK_TIMEOUT_S,
        harness_timeout_s=30,
    )


def _remove_empty_job_cgroups(sandbox: SandboxConfig) -> None:
    """An earlier run of this suite that was killed leaves its job cgroups behind (empty: its processes are gone), and
    `test_nothing_of_the_suite_is_left` would blame this run for them. Only groups with no process are removed."""
    for controller in ("memory", "pids", "cpu", "cpuacct"):
        parent = sandbox.cgroup_root / controller / sandbox.cgroup_parent
        if not parent.is_dir():
            continue
        for group in parent.iterdir():
            procs = group / "cgroup.procs"
            if group.is_dir() and procs.exists() and not procs.read_text().strip():
                with contextlib.suppress(OSError):
                    group.rmdir()
