"""A notebook of both frameworks that imports torchvision after Keras, in the default student environment.

TensorFlow's wheels export their LLVM to the whole process and Triton's (loaded by `import torchvision`) bound to it:
the kernel died of a segfault. The kernel's start-up (`in_kernel/startup.py`) has TensorFlow load with RTLD_LOCAL;
this notebook trains in both frameworks and is graded in full."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.datasets import LabData
from grader.kernel.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec import LabSpec
from tests.lab_tasks.frameworks import notebook_cells as cells
from tests.lab_tasks.frameworks.conftest import default_python, notebook

pytestmark = pytest.mark.slow  # Keras, then PyTorch, trained in one real kernel: about a minute


async def test_keras_then_torchvision_trains_and_is_graded(tmp_path: Path, small_spec: LabSpec,
                                                           small_lab: LabData) -> None:
    nb = notebook(cells.KERAS_LOGITS, cells.TORCHVISION_AFTER_KERAS, cells.TORCH_MNIST, cells.TORCH_SINGLE,
                  cells.TORCH_MULTI)
    ctx = GradingContext(spec=small_spec, lab_data=small_lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=default_python()))
    outcome = await grade_notebook(nb, ctx)
    report = outcome.report
    assert report.execution_note == "", report.execution_note
    assert report.cell_errors == (), report.cell_errors
    assert {check.id: check.passed for check in report.checks} == {check.id: True for check in small_spec.checks}, [
        check.message for check in report.checks]
    assert "Keras" in report.discovery[0] and "PyTorch" in report.discovery[1], report.discovery
    assert "(1, 28, 28)" in outcome.executed_notebook.decode()
