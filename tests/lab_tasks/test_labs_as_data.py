"""The curriculum's perceptron and own-framework labs and the instructor's digits lab are data: a lab.toml that
validates, notebooks, no code; each starter states the contract its lab.toml grades."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.data.sources import import_source
from grader.spec.lab import LabSpec, discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import SMALL_MNIST
from tests.lab_tasks.bundled import contract_cell, import_mnist, lab_toml, solutions

DATA_LABS = ("perceptron", "own_framework", "digits")


def test_every_bundled_lab_validates() -> None:
    assert set(discover_labs(LABS_DIR)) >= {"frameworks", *DATA_LABS}


def test_every_bundled_lab_reads_back_from_its_stored_form() -> None:
    """The server stores each spec as JSON and validates it again at start-up: what validated once validates again
    (an environment's defaults, dumped with the rest, once refused the stored mountain_car lab)."""
    for spec in discover_labs(LABS_DIR).values():
        assert LabSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize("lab", DATA_LABS)
def test_a_lab_folder_holds_no_code(lab: str) -> None:
    folder = LABS_DIR / lab
    assert sorted(p.name for p in folder.rglob("*.py")) == []
    assert (folder / "lab.toml").is_file() and (folder / "starter.ipynb").is_file()
    assert len(solutions(lab)) >= 2


@pytest.mark.parametrize("lab", DATA_LABS)
def test_the_starter_states_each_contract_name_and_threshold_its_checks_grade(lab: str) -> None:
    text = contract_cell(lab)
    for check in lab_toml(lab)["checks"]:
        assert f"`{check['model']}`" in text, (lab, check["model"])
        assert f"full credit at {check['full_credit_at']:.2f}" in text, (lab, check["id"])
        assert f"none at or below {check['no_credit_at']:.2f}" in text, (lab, check["id"])


@pytest.mark.parametrize("lab", DATA_LABS)
def test_notebooks_are_shipped_without_outputs(lab: str) -> None:
    for path in [LABS_DIR / lab / "starter.ipynb", *solutions(lab)]:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), path


@pytest.mark.parametrize("lab", DATA_LABS)
def test_the_starter_leaves_every_contract_name_to_the_student(lab: str) -> None:
    source = "\n".join(c.source for c in nbformat.read(LABS_DIR / lab / "starter.ipynb", as_version=4).cells
                       if c.cell_type == "code")
    for check in lab_toml(lab)["checks"]:
        assert re.search(rf"^{check['model']} = None\b", source, re.MULTILINE), (lab, check["model"])


def test_every_mnist_lab_hides_the_same_half_of_the_test_set(tmp_path: Path) -> None:
    import_mnist(tmp_path)
    hidden = {}
    for lab in ("frameworks", "perceptron", "own_framework"):
        with np.load(tmp_path / "data" / "labs" / lab / "hidden" / "mnist.npz") as archive:
            hidden[lab] = (archive["x"].tobytes(), archive["y"].tobytes())
    assert len(hidden["frameworks"][1]) > 0
    assert hidden["perceptron"] == hidden["own_framework"] == hidden["frameworks"]


def test_the_mnist_labs_share_one_copy_of_their_served_files_and_a_new_import_replaces_it(tmp_path: Path) -> None:
    labs = {lab: spec for lab, spec in discover_labs(LABS_DIR).items() if lab not in ("digits", "mountain_car")}
    import_source(tmp_path, labs, SMALL_MNIST, "mnist.npz")
    served = ["mnist.npz", "MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"]
    for name in served:
        inodes = {(tmp_path / "labs" / lab / "visible" / name).stat().st_ino for lab in labs}
        assert len(inodes) == 1, name  # one file on disk, linked from each lab
    before = (tmp_path / "labs" / "perceptron" / "visible" / "mnist.npz").read_bytes()
    with np.load(SMALL_MNIST) as small:
        arrays = {key: small[key] for key in small.files}
    smaller = tmp_path / "smaller.npz"
    np.savez(smaller, x_train=arrays["x_train"][:600], y_train=arrays["y_train"][:600], x_test=arrays["x_test"],
             y_test=arrays["y_test"])
    import_source(tmp_path, {"frameworks": labs["frameworks"]}, smaller, "mnist.npz")  # one lab gets new data
    with np.load(tmp_path / "labs" / "frameworks" / "visible" / "mnist.npz") as visible:
        assert len(visible["y_train"]) == 600
    assert (tmp_path / "labs" / "perceptron" / "visible" / "mnist.npz").read_bytes() == before  # the others keep theirs
