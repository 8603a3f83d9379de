"""The perceptron lab (AI-for-Beginners 03-Perceptron) end to end: MNIST imported with the CLI, the reference
solutions graded to full marks and the starter to zero in real sandboxed kernels, on the hidden half of the test set
every MNIST lab shares."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lab_tasks import LABS_DIR
from tests.lab_tasks.bundled import grade_written, lab_test, scores, solutions

LAB = "perceptron"
CHECK = "mnist_perceptron_accuracy"


@pytest.mark.slow
def test_labs_test_finds_the_solutions_full_and_the_starter_empty(mnist_workdir: Path) -> None:
    """`labgrader labs test perceptron`: the lab's expectations.toml (each solution 100, the starter 0), each notebook
    graded once."""
    graded = lab_test(mnist_workdir, LAB)
    assert sorted(graded) == ["solutions/" + p.name for p in solutions(LAB)] + ["starter.ipynb"]
    for notebook, checks in graded.items():
        earned, message = checks[CHECK]
        assert earned == (0 if notebook == "starter.ipynb" else 100), message
        assert ("perceptron_weights" in message) if notebook == "starter.ipynb" else \
            message.startswith("`perceptron_weights`"), message


@pytest.mark.slow
def test_perceptrons_trained_for_a_few_steps_earn_partial_credit(mnist_workdir: Path, tmp_path: Path) -> None:
    nb = nbformat.read(LABS_DIR / LAB / "solutions" / "solution_lesson.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("num_iterations=10000", "num_iterations=200")
    path = tmp_path / "few_steps.ipynb"
    report = grade_written(mnist_workdir, LAB, nb, path)
    assert 0 < scores(report)[CHECK] < 100, report["checks"]


@pytest.mark.slow
def test_a_weight_matrix_under_another_name_is_found(mnist_workdir: Path, tmp_path: Path) -> None:
    """The lesson's hint: one (784, 10) matrix, `x @ W`, named as the student likes (the list it came from deleted:
    with both left, discovery takes either, as accurate as each other)."""
    nb = nbformat.read(LABS_DIR / LAB / "solutions" / "solution_lesson.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("perceptron_weights = columns",
                                          "all_weights = np.hstack(columns)\ndel columns")
        cell.source = cell.source.replace("classify(perceptron_weights, ", "classify(np.hsplit(all_weights, 10), ")
    path = tmp_path / "own_name.ipynb"
    report = grade_written(mnist_workdir, LAB, nb, path)
    assert scores(report) == {CHECK: 100}, report["checks"]
    assert report["checks"][0]["message"].startswith("`all_weights`"), report["checks"][0]["message"]
