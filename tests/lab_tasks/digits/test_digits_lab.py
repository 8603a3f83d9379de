"""The digits lab: an instructor's lab written with no code (docs/lab-author.md). Its evaluation rows are made here
from scikit-learn's digits and imported with `labgrader datasets import --lab digits --dataset digits FILE`; the
PyTorch and Keras solutions grade to full marks and the starter to zero in real sandboxed kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lab_tasks import LABS_DIR
from tests.lab_tasks.bundled import grade, import_dataset, scores, solutions

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
@pytest.mark.parametrize("solution", [p.name for p in solutions(LAB)])
def test_a_reference_solution_earns_full_marks(workdir: Path, solution: str) -> None:
    report = grade(workdir, LAB, LABS_DIR / LAB / "solutions" / solution)
    assert scores(report) == {CHECK: 100}, report["checks"]
    assert f"on {HIDDEN_ROWS} hidden" in report["checks"][0]["message"], report["checks"][0]["message"]


@pytest.mark.slow
def test_the_starter_earns_nothing(workdir: Path) -> None:
    report = grade(workdir, LAB, LABS_DIR / LAB / "starter.ipynb")
    assert scores(report) == {CHECK: 0}, report["checks"]
