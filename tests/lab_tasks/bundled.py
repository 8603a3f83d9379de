"""The bundled labs as an instructor uses them: data imported and notebooks graded with the `labgrader` CLI, in real
sandboxed kernels, against a data folder of the test's own (the hidden splits live only there)."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from grader.kernel.environments import read_environment_marker
from lab_tasks import LABS_DIR
from tests.conftest import LABGRADER, server_env

FULL_MNIST = Path(os.environ.get("LABGRADER_TEST_MNIST", "/work/shared/datasets/mnist.npz"))
REPO = Path(__file__).resolve().parents[2]


def default_python() -> str:
    """The default student environment's Python, as the service resolves it (the build in use): it has Keras and
    torchvision, which the service's venv has not."""
    venv = Path(os.environ.get("LABGRADER_KERNELS_DIR", REPO / "labgrader-data" / "kernels")) / "default"
    if read_environment_marker(venv) is None:
        pytest.fail(f"the default student environment is not built in {venv}: run `.ci/prepare` (or "
                    "`.venv/bin/labgrader kernels build default`; LABGRADER_KERNELS_DIR names another folder)")
    return str(Path(os.path.realpath(venv)) / "bin" / "python")


def labgrader(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`labgrader ARGS` with the bundled labs and the data folder `workdir/data`."""
    return subprocess.run([*LABGRADER, *args], cwd=workdir, env=server_env(workdir), capture_output=True, text=True,
                          timeout=900)


def import_dataset(workdir: Path, lab: str, dataset: str, source: Path) -> str:
    """An instructor's own evaluation data: `labgrader datasets import --lab LAB --dataset ID FILE`."""
    out = labgrader(workdir, "datasets", "import", "--lab", lab, "--dataset", dataset, str(source))
    assert out.returncode == 0, out.stderr
    return out.stdout


def import_mnist(workdir: Path) -> str:
    """The MNIST arrays every MNIST lab declares as its source: `labgrader datasets import mnist.npz`."""
    if not FULL_MNIST.is_file():
        raise AssertionError(f"the full MNIST arrays are needed at {FULL_MNIST} (set LABGRADER_TEST_MNIST)")
    out = labgrader(workdir, "datasets", "import", str(FULL_MNIST))
    assert out.returncode == 0, out.stderr
    return out.stdout


def grade_written(workdir: Path, lab: str, nb: NotebookNode, path: Path) -> dict[str, Any]:
    """Write `nb` to `path`, then grade it (`grade`)."""
    nbformat.write(nb, path)
    return grade(workdir, lab, path)


def grade(workdir: Path, lab: str, notebook: Path) -> dict[str, Any]:
    """The report of `labgrader grade NOTEBOOK --lab LAB --json`."""
    out = labgrader(workdir, "grade", str(notebook), "--lab", lab, "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def lab_test(workdir: Path, lab: str) -> dict[str, Any]:
    """`labgrader labs test LAB --json`: every notebook of the lab's expectations.toml graded once and compared; the
    command must find everything as expected. Returns notebook -> check -> (earned, message)."""
    out = subprocess.run([*LABGRADER, "labs", "test", lab, "--json"], cwd=workdir, env=server_env(workdir),
                         capture_output=True, text=True, timeout=2400)  # three notebooks or more, one after another
    answers: list[dict[str, Any]] = json.loads(out.stdout) if out.stdout.strip() else [{"error": out.stderr[-3000:]}]
    answer = answers[0]
    assert (out.returncode, answer.get("ok")) == (0, True), answer
    graded: dict[str, Any] = {}
    for row in answer["rows"]:
        graded.setdefault(row["notebook"], {})[row["check"]] = (row["earned"], row["message"])
    return graded


def scores(report: dict[str, Any]) -> dict[str, float]:
    return {check["id"]: check["score"] for check in report["checks"]}


def lab_toml(lab: str) -> dict[str, Any]:
    with (LABS_DIR / lab / "lab.toml").open("rb") as fh:
        return tomllib.load(fh)


def contract_cell(lab: str) -> str:
    """The starter's first markdown cell (its words, whitespace collapsed): the lab's text and its contract."""
    nb = nbformat.read(LABS_DIR / lab / "starter.ipynb", as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    return " ".join(str(first.source).split())


def solutions(lab: str) -> list[Path]:
    return sorted((LABS_DIR / lab / "solutions").glob("*.ipynb"))
