"""The digits lab: an instructor's lab written with no code (docs/lab-author.md). Its evaluation rows are made here
from scikit-learn's digits and imported with `labgrader datasets import --lab digits --dataset digits FILE`; the
PyTorch and Keras solutions grade to full marks and the starter to zero in real sandboxed kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tests.lab_tasks.bundled import import_dataset, lab_test, solutions

LAB = "digits"
CHECK = "digits_accuracy"
HIDDEN_ROWS = 360
SPLIT_SEED = 20261201


def write_instructor_file(path: Path) -> None:
    """The instructor's own split: 1,437 rows students train on, 360 kept aside (stratified, fixed seed)."""
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.images, digits.target, test_size=HIDDEN_ROWS,
                                                        stratify=digits.target, random_state=SPLIT_SEED)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    write_instructor_file(root / "digits-split.npz")
    import_dataset(root, LAB, "digits", root / "digits-split.npz")
    with np.load(root / "data" / "labs" / LAB / "hidden" / "digits.npz") as hidden:
        assert len(hidden["y"]) == HIDDEN_ROWS
    return root


@pytest.mark.slow
def test_labs_test_finds_the_solutions_full_and_the_starter_empty(workdir: Path) -> None:
    """`labgrader labs test digits`: the lab's expectations.toml (the PyTorch and Keras solutions 100, the starter
    0), each notebook graded once."""
    graded = lab_test(workdir, LAB)
    assert sorted(graded) == ["solutions/" + p.name for p in solutions(LAB)] + ["starter.ipynb"]
    for notebook, checks in graded.items():
        earned, message = checks[CHECK]
        assert earned == (0 if notebook == "starter.ipynb" else 100), message
        if notebook != "starter.ipynb":
            assert f"on {HIDDEN_ROWS} hidden" in message, message

