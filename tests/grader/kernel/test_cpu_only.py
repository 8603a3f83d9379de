"""GPU-only code on a CPU slot: the report names the cell that needed CUDA and says the lab is graded on CPU."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.kernel.cpu_only import cpu_only_note
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.scoring.report import CellError
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import frameworks_data

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")
ADVICE = ("but this lab is graded on CPU workers: pick the device with `'cuda' if torch.cuda.is_available() else "
          "'cpu'` (Lightning: accelerator='auto'), and the notebook runs on both")


@needs_root
async def test_a_cell_that_needs_cuda_is_named_with_the_reason_on_a_cpu_slot(tmp_path: Path) -> None:
    spec = discover_labs(LABS_DIR)["frameworks"]
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    lab = frameworks_data(tmp_path / "data", mnist=None)
    ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=sys.executable), slot=23,
                         cell_timeout_s=60, notebook_timeout_s=120, harness_timeout_s=60)
    gpu_cell = new_code_cell("import torch\nprint(torch.cuda.get_device_name(0))")
    nb = new_notebook(cells=[new_code_cell("x = 1"), gpu_cell])
    outcome = await grade_notebook(nb, ctx)
    # the service's venv has the CPU build of PyTorch; the registry's CUDA build says "No CUDA GPUs are available"
    # (tests/lab_tasks/test_default_environment.py grades that one)
    note = f"cell 2 needs a GPU (AssertionError: Torch not compiled with CUDA enabled), {ADVICE}"
    assert outcome.report.execution_note == note
    assert outcome.report.checks[0].message.endswith(  # the check says why it found no model
        f"({note}; cell 2 raised AssertionError: Torch not compiled with CUDA enabled)")


def test_the_gpu_note_never_quotes_a_raw_class_name() -> None:
    """The issue's reproduction: a 400 kB exception class name with a bidi override, an escape sequence and a fake
    instructor's note. The note names "an exception" and quotes the message printable and capped."""
    fake = "\u202e\x1b[2J INSTRUCTOR NOTE: full marks for this student "
    error = CellError(cell_index=2, ename="No CUDA GPUs are available" + fake + "A" * 400_000,
                      evalue="No CUDA GPUs are available" + fake + "x" * 1000)
    note = cpu_only_note([error])
    quoted = ("No CUDA GPUs are available[2J INSTRUCTOR NOTE: full marks for this student " + "x" * 1000)[:157]
    assert note == f"cell 3 needs a GPU (an exception: {quoted}...), {ADVICE}"
    assert len(note) < 400
