"""A build that cannot fit is refused before it starts, in one line naming the disk, the space free and the space
needed, and the build in use is left as it is (the CI run of stop 29 died in pip with "No space left on device")."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.errors import EnvironmentUnavailable
from grader.kernel.environments import MARKER, build_environment, read_environment_marker, space_problem

BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def test_space_problem_names_the_disk_the_free_space_and_the_need(tmp_path: Path) -> None:
    assert space_problem(tmp_path, 1) is None
    problem = space_problem(tmp_path, 2**40)  # a petabyte: no disk here has it
    assert problem is not None
    assert str(tmp_path) in problem and "GB free" in problem and "LABGRADER_KERNELS_DIR" in problem


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="labgrader-space-", dir="/var/tmp"))  # /tmp is hidden from the sandbox
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_rebuild_larger_than_the_disk_is_refused_and_the_build_in_use_kept(outside_tmp: Path) -> None:
    tmp_path = outside_tmp
    kernels = tmp_path / "kernels"
    build = kernels / "default@20260101T000000-1"
    (build / "bin").mkdir(parents=True)
    # the build in use claims a size no disk here has room for 1.3 times over
    (build / MARKER).write_text(json.dumps({"name": "default", "requirements_sha256": "old",
                                            "base_python": BASE_PYTHON, "size_mb": 2**40}))
    os.symlink(build.name, kernels / "default")
    requirements = tmp_path / "default.txt"
    requirements.write_text("ipykernel\n")

    with pytest.raises(EnvironmentUnavailable, match=r"cannot build `default`: only .* GB free on the disk of"):
        build_environment("default", requirements, kernels, BASE_PYTHON)

    assert sorted(p.name for p in kernels.iterdir()) == ["default", build.name]  # nothing begun, nothing removed
    marker = read_environment_marker(kernels / "default")
    assert marker is not None and marker["requirements_sha256"] == "old"
