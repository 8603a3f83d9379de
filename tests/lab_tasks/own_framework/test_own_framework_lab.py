"""The own-framework lab (AI-for-Beginners 04-OwnFramework) end to end: networks of the student's own NumPy classes
(`Net` with a `layers` list of `Linear`/`Tanh`/`ReLU`/`Softmax`) evaluated from their weights on hidden MNIST, in real
sandboxed kernels."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from lab_tasks import LABS_DIR
from tests.lab_tasks.bundled import grade_written, lab_test, solutions

LAB = "own_framework"
CHECKS = ("one_layer_accuracy", "two_layer_accuracy", "three_layer_accuracy")


@pytest.mark.slow
def test_labs_test_finds_the_solutions_full_and_the_starter_empty(mnist_workdir: Path) -> None:
    """`labgrader labs test own_framework`: the lab's expectations.toml (each solution every point, the starter
    none), each notebook graded once."""
    graded = lab_test(mnist_workdir, LAB)
    assert sorted(graded) == ["solutions/" + p.name for p in solutions(LAB)] + ["starter.ipynb"]
    for notebook, checks in graded.items():
        assert sorted(checks) == sorted([*CHECKS, "total"])
        assert checks["total"][0] == (0 if notebook == "starter.ipynb" else 100), checks


@pytest.mark.slow
def test_networks_in_the_wrong_slots_fail_exactly_those_checks(mnist_workdir: Path, tmp_path: Path) -> None:
    nb = nbformat.read(LABS_DIR / LAB / "solutions" / "solution_tanh.ipynb", as_version=4)
    swap = new_code_cell("two_layer_net, three_layer_net = three_layer_net, two_layer_net")
    del swap["id"]  # the lab's notebooks are nbformat 4.4, whose cells have no ids
    nb.cells.append(swap)
    path = tmp_path / "swapped.ipynb"
    report = grade_written(mnist_workdir, LAB, nb, path)
    passed = {check["id"]: check["passed"] for check in report["checks"]}
    assert passed == {"one_layer_accuracy": True, "two_layer_accuracy": False, "three_layer_accuracy": False}, \
        report["checks"]
