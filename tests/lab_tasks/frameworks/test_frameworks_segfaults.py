"""Kernels that crash in compiled code, and the crash the grader prevents.

A notebook of both frameworks that imports torchvision after Keras, in the default student environment: TensorFlow's
wheels export their LLVM to the whole process and Triton's (loaded by `import torchvision`) bound to it, so the kernel
died of a segfault. The kernel's start-up (`in_kernel/startup_process.py`) has TensorFlow load with RTLD_LOCAL; the
notebook trains in both frameworks and is graded in full. A kernel that does crash is reported as a crash, not as a
limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.data.lab_data import LabData
from grader.kernel.kernel_process import crash_reason
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import LabSpec
from tests.lab_tasks.bundled import default_python
from tests.lab_tasks.frameworks import notebook_cells as cells
from tests.lab_tasks.frameworks.conftest import Grade, notebook

SEGFAULT = ("its Python process crashed with a segmentation fault (signal 11) inside a compiled library, not a limit "
            "of the grader; two libraries that clash can do this, and importing them in another order may avoid it")


def test_crash_signals_are_told_from_limits_and_ordinary_exits() -> None:
    assert crash_reason(139) == crash_reason(-11) == SEGFAULT  # through the sandbox's shell, and direct
    assert "an abort (signal 6)" in crash_reason(134)
    assert "a bus error (signal 7)" in crash_reason(135)
    assert crash_reason(137) == crash_reason(-9) == ""  # SIGKILL: the memory limit, or a kill; the cgroups tell
    assert crash_reason(0) == crash_reason(1) == crash_reason(None) == ""


async def test_a_segfault_in_a_cell_is_reported_as_a_crash(grade: Grade, small_spec: LabSpec,
                                                           small_lab: LabData) -> None:
    outcome = await grade(notebook("print('before')", "import ctypes\nctypes.string_at(0)", "print('never')"),
                          small_spec, small_lab)
    assert outcome.report.execution_note == f"the kernel died while running cell 2 ({SEGFAULT})"


@pytest.mark.slow  # Keras, then PyTorch, trained in one real kernel: about 40 s
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
