"""The worker container's capability set (docker-compose.yml) is enough for the sandbox, and each one is needed.

Docker cannot run here, so the test reproduces what Docker does to the worker's processes: the container's
capability bounding set, applied with `setpriv` to a real `labgrader grade` of a notebook in the real sandbox.
Seccomp and AppArmor are not reproduced (docs/operator.md explains why both are unconfined).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import REPO, Compose

# moby's default capability set (oci/caps/defaults.go): what a container holds unless cap_drop removes it.
DOCKER_DEFAULT_CAPS = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})
SURVIVOR = "sleep 6011"
NOTEBOOK_CODE = f"""
import os, subprocess
os.makedirs("results/run1")
with open("results/run1/out.txt", "w") as fh:
    fh.write("written by uid %d" % os.getuid())
subprocess.Popen({SURVIVOR.split()!r})
print(os.getuid(), sorted(os.listdir(".")))
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(os.access(t, os.X_OK) for t in ("/usr/bin/bwrap", "/usr/bin/setpriv")),
    reason="needs root with bubblewrap and setpriv installed, like the worker image",
)


def container_caps(worker: dict[str, Any]) -> set[str]:
    dropped = set(worker.get("cap_drop", []))
    held = set() if "ALL" in dropped else set(DOCKER_DEFAULT_CAPS) - dropped
    return held | set(worker.get("cap_add", []))


@pytest.fixture(scope="module")
def worker_caps(compose: Compose) -> set[str]:
    return container_caps(compose.config()["services"]["worker"])


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    path = tmp_path / "nb.ipynb"
    cell: dict[str, Any] = {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [],
            "source": NOTEBOOK_CODE}
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}))
    return path


def grade_with_caps(caps: set[str] | None, notebook: Path) -> subprocess.CompletedProcess[str]:
    """`labgrader grade --json` with only `caps` in the bounding set (None: every capability root has)."""
    data_dir = notebook.parent / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(notebook.parent), "LANG": "C.UTF-8",
           "PYTHONPATH": str(REPO), "LABGRADER_DATA_DIR": str(data_dir)}
    argv = [sys.executable, "-m", "server.cli.main", "grade", str(notebook), "--lab", "frameworks", "--json"]
    if caps is not None:
        bounding = ",".join(["-all", *(f"+{c.lower()}" for c in sorted(caps))])
        argv = ["/usr/bin/setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--", *argv]
    return subprocess.run(argv, cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=300)


def leftovers(root: Path) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(str(root))]
    jobs = root / "data" / "jobs"
    dirs = sorted(p.name for p in jobs.iterdir()) if jobs.is_dir() else []
    survivors = subprocess.run(["pgrep", "-f", f"^{SURVIVOR}$"], capture_output=True, text=True).stdout.split()
    return mounts + dirs + [f"pid {pid}" for pid in survivors]


def test_the_worker_containers_capabilities_run_the_sandbox(worker_caps: set[str], notebook: Path) -> None:
    proc = grade_with_caps(worker_caps, notebook)
    if proc.returncode == 3 and "refusing to run student code" in proc.stderr:
        unrestricted = grade_with_caps(None, notebook)
        if unrestricted.returncode == 3:
            pytest.skip(f"this host cannot run the sandbox even as full root: {unrestricted.stderr.strip()[:300]}")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["isolation"].startswith("bubblewrap"), report["isolation"]
    assert report["status"] == "graded"
    assert leftovers(notebook.parent) == []


@pytest.mark.parametrize(("capability", "failure"), [
    ("SYS_ADMIN", "bwrap: Creating new namespace failed: Operation not permitted"),
    ("NET_ADMIN", "bwrap: loopback: Failed RTM_NEWADDR"),
    ("SETUID", "setpriv: setresuid failed: Operation not permitted"),
    ("SETGID", "setpriv: setresgid failed: Operation not permitted"),
])
def test_without_each_namespace_or_uid_capability_the_worker_refuses_student_code(
        worker_caps: set[str], notebook: Path, capability: str, failure: str) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not on PATH")
    assert capability in worker_caps
    proc = grade_with_caps(worker_caps - {capability}, notebook)
    assert proc.returncode == 3, proc.stderr
    assert "refusing to run student code" in proc.stderr
    assert failure in proc.stderr
    assert leftovers(notebook.parent) == []


def test_the_operators_doc_explains_every_capability_the_worker_holds(worker_caps: set[str]) -> None:
    doc = (REPO / "docs" / "operator.md").read_text()
    table = doc[doc.index("| capability | why the sandbox needs it |"):].split("\n\n")[0]
    rows = table.splitlines()[2:]
    explained = {cap.strip(" `") for row in rows for cap in row.split("|")[1].split(",")}
    assert explained == worker_caps
