"""Student kernels in their own venvs: the image's layout (a kernel venv and the service's venv from one base
interpreter) runs the notebook in the kernel venv; a kernel that cannot start says why."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox import kernel_command
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import LabSpec, discover_labs
from lab_tasks import LABS_DIR
from tests.grader.kernel.kernel_venvs import make_kernel_venv
from tests.lab_data import frameworks_data

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")


@pytest.fixture(scope="module")
def kernel_venv() -> Iterator[Path]:
    """A kernel venv outside /tmp (the sandbox's own tmpfs hides /tmp): /var/tmp, like the image's /opt."""
    root = Path(tempfile.mkdtemp(prefix="labgrader-kernel-venv-", dir="/var/tmp"))
    root.chmod(0o755)
    try:
        yield make_kernel_venv(root / "venv", "ipykernel", "numpy")  # numpy: the harness
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def iris_spec() -> LabSpec:
    spec = discover_labs(LABS_DIR)["frameworks"]
    return spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})


def _context(tmp_path: Path, spec: LabSpec, python: str, slot: int) -> GradingContext:
    lab = frameworks_data(tmp_path / "data", mnist=None)
    return GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                          sandbox=SandboxConfig(kernel_python=python), slot=slot,
                          cell_timeout_s=60, notebook_timeout_s=120, harness_timeout_s=60)


def test_a_venv_is_told_apart_by_its_pyvenv_cfg_not_by_the_binary_it_links_to(kernel_venv: Path) -> None:
    assert os.path.realpath(kernel_venv) == os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    prefixes = kernel_command.kernel_python_prefixes(str(kernel_venv))
    assert prefixes[0] == str(kernel_venv.parent.parent.resolve())
    assert os.path.realpath(sys.prefix) not in prefixes


@needs_root
async def test_the_kernel_runs_in_the_kernel_venv_made_from_the_services_base_interpreter(
        tmp_path: Path, kernel_venv: Path, iris_spec: LabSpec) -> None:
    """The worker image's layout: /opt/kernel-venv and /opt/labgrader/venv both from one python3.11."""
    nb = new_notebook(cells=[new_code_cell("import sys, json\nprint(json.dumps([sys.prefix, sys.executable]))")])
    outcome = await grade_notebook(nb, _context(tmp_path, iris_spec, str(kernel_venv), slot=21))
    assert outcome.report.execution_note == ""
    executed = nbformat.reads(outcome.executed_notebook.decode(), as_version=4)  # type: ignore[no-untyped-call]
    printed = json.loads(executed.cells[0].outputs[0]["text"])
    assert printed == [str(kernel_venv.parent.parent), str(kernel_venv)]
