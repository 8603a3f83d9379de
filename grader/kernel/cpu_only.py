"""GPU-only code on a CPU slot: the cell that needed CUDA, named in words a student can act on."""

from __future__ import annotations

import re
from collections.abc import Sequence

from grader.scoring.report import CellError
from grader.scoring.student_text import exception_name, printable

# what PyTorch, Lightning and TensorFlow say when code asks for a GPU that is not there (CPU or CUDA builds)
NEEDS_A_GPU = re.compile(
    r"No CUDA GPUs are available|not compiled with CUDA enabled|Found no NVIDIA driver|CUDA driver initialization"
    r"|CUDA (driver version is insufficient|error: no CUDA-capable device)|no CUDA-capable device"
    r"|(GPU|CUDA)Accelerator.{0,20}can not run on your system|accelerator is not available"
    r"|No supported gpu backend found"
    r"|on a CUDA device but torch\.cuda\.is_available\(\) is False|Invalid device ordinal"
    r"|Could not satisfy (explicit )?device specification.{0,80}GPU",
    re.IGNORECASE | re.DOTALL,
)


def cpu_only_note(cell_errors: Sequence[CellError]) -> str:
    """The first cell that failed for want of a GPU, and why the grader has none; "" when no cell did."""
    for error in cell_errors:
        # the class and message come from student code: a built-in class name or "an exception", the message
        # printable and capped (a class named with a bidi override and a fake note is no part of the sentence)
        if NEEDS_A_GPU.search(f"{error.ename[:200]}: {error.evalue[:2000]}"):
            what = f"{exception_name(error.ename)}: {printable(error.evalue, 160)}"
            return (f"cell {error.cell_index + 1} needs a GPU ({what}), but this lab is graded on "
                    "CPU workers: pick the device with `'cuda' if torch.cuda.is_available() else 'cpu'` "
                    "(Lightning: accelerator='auto'), and the notebook runs on both")
    return ""
