"""docker/worker-entrypoint.sh run for real (outside Docker): dataset import on first start, cgroup fallbacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

ENTRYPOINT = REPO / "docker" / "worker-entrypoint.sh"
SHARED_MNIST = Path(os.environ.get("LABGRADER_TEST_MNIST", "/work/shared/datasets/mnist.npz"))  # as the lab's tests
LOG = "labgrader-worker-entrypoint: "


def run_entrypoint(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                   wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """The entrypoint with `labgrader` on PATH meaning this checkout's CLI, as /opt/labgrader/venv/bin does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    cli = bin_dir / "labgrader"
    cli.write_text(f'#!/bin/sh\nexec {sys.executable} -m server.cli.main "$@"\n')
    cli.chmod(0o755)
    base = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO), "LABGRADER_DATA_DIR": str(tmp_path / "data"),
            "LABGRADER_CGROUP_ROOT": str(tmp_path / "no-cgroups")}
    return subprocess.run([*(wrap or []), "sh", str(ENTRYPOINT), *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=300)


def prepared(tmp_path: Path) -> None:
    hidden = tmp_path / "data" / "labs" / "frameworks" / "hidden"
    hidden.mkdir(parents=True)
    (hidden / "mnist.npz").write_bytes(b"already prepared")


def test_a_prepared_data_volume_is_left_alone_and_the_command_runs(tmp_path: Path) -> None:
    prepared(tmp_path)
    proc = run_entrypoint(tmp_path, "datasets", "status")
    assert proc.returncode == 0, proc.stderr
    # no import was attempted (stderr is empty) and the command itself ran and saw the volume as it was
    assert "\nframeworks/iris: missing (prepared from scikit-learn's" in proc.stdout
    assert "\nframeworks/mnist: missing (run" in proc.stdout
    assert proc.stderr == ""


def test_a_missing_dataset_file_stops_the_worker_with_the_import_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mnist.npz"
    proc = run_entrypoint(tmp_path, "datasets", "status", env={"LABGRADER_MNIST_NPZ": str(missing)})
    assert proc.returncode == 2
    assert proc.stdout == ""
    first, second = proc.stderr.splitlines()[:2]
    assert first == f"{LOG}preparing the lab datasets in {tmp_path / 'data'}"
    assert second.startswith(f"error: {missing} is not a NumPy .npz archive: ")


def test_the_first_start_imports_mnist_into_the_data_volume(tmp_path: Path) -> None:
    assert SHARED_MNIST.is_file(), f"the real MNIST is needed at {SHARED_MNIST} (set LABGRADER_TEST_MNIST)"
    proc = run_entrypoint(tmp_path, "datasets", "status", env={"LABGRADER_MNIST_NPZ": str(SHARED_MNIST)})
    assert proc.returncode == 0, proc.stderr
    assert "frameworks/iris: labs/frameworks/hidden/iris.npz sha256 " in proc.stdout
    assert "frameworks/mnist: labs/frameworks/hidden/mnist.npz sha256 " in proc.stdout
    assert (tmp_path / "data" / "labs" / "frameworks" / "hidden" / "mnist.npz").is_file()


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_cgroups_that_cannot_be_made_writable_are_reported_and_the_worker_still_starts(
        tmp_path: Path, layout: str) -> None:
    root = tmp_path / "cgroups"
    (root / "memory").mkdir(parents=True)  # a directory, not a mount: the remount fails as under docker-default
    if layout == "v2":
        (root / "cgroup.controllers").write_text("cpu memory pids\n")
        (root / "cgroup.procs").write_text("")
    prepared(tmp_path)
    proc = run_entrypoint(tmp_path, "datasets", "status", env={"LABGRADER_CGROUP_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr
    where = root if layout == "v2" else root / "memory"
    assert proc.stderr == (f"{LOG}cannot make {where} writable (needs cap_add SYS_ADMIN and security_opt "
                           "apparmor=unconfined); per-job cgroup limits are off\n")
    assert not (root / "labgrader-service").exists()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or not os.path.ismount("/sys/fs/cgroup/memory")
    or os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
    reason="needs root, unshare and a cgroup v1 memory hierarchy (the v2 path moves processes: never on a host)",
)
def test_cgroup_v1_controllers_are_remounted_writable_in_the_containers_mount_namespace(tmp_path: Path) -> None:
    prepared(tmp_path)
    proc = run_entrypoint(tmp_path, "datasets", "status", env={"LABGRADER_CGROUP_ROOT": "/sys/fs/cgroup"},
                          wrap=["unshare", "--mount", "--propagation", "private", "--"])
    assert proc.returncode == 0, proc.stderr
    expected = [c for c in ("memory", "pids", "cpu", "cpuacct") if os.path.isdir(f"/sys/fs/cgroup/{c}")]
    assert proc.stderr == "".join(f"{LOG}cgroup v1: /sys/fs/cgroup/{c} is writable\n" for c in expected)
