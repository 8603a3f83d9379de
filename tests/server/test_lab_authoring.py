"""A lab written with no code (docs/lab-author.md): `labs new`, the instructor's own data imported with
`datasets import --lab --dataset`, its reference solution graded to full marks and its starter to zero, in real
sandboxed kernels; the hidden split never reaches the sandbox."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from tests.conftest import LABGRADER, notebook_bytes, server_env


def labgrader(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env(tmp_path, LABGRADER_LABS_DIR=str(tmp_path / "labs"))
    return subprocess.run([*LABGRADER, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def write_flowers_csv(path: Path) -> None:
    iris = load_iris()
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*iris.feature_names, "species"])
        for features, label in zip(iris.data, iris.target, strict=True):
            writer.writerow([*features, iris.target_names[label]])


@pytest.fixture
def flowers(tmp_path: Path) -> Path:
    (tmp_path / "labs").mkdir()
    assert labgrader(tmp_path, "labs", "new", "flowers").returncode == 0
    write_flowers_csv(tmp_path / "flowers.csv")
    out = labgrader(tmp_path, "datasets", "import", "--lab", "flowers", "--dataset", "flowers", "flowers.csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "imported flowers.csv as dataset flowers of lab flowers: 120 visible rows (./data/flowers.npz in every job), "
        "30 hidden rows (never in a sandbox), 3 classes, inputs (4,); split stratified, seed 20241130, 30 of 150 "
        "rows hidden\n")
    return tmp_path


def test_a_new_lab_on_imported_data_grades_its_solution_full_and_its_starter_zero(flowers: Path) -> None:
    lab = flowers / "labs" / "flowers"
    solution = json.loads(labgrader(flowers, "grade", str(lab / "solutions" / "solution.ipynb"), "--lab", "flowers",
                                    "--json").stdout)
    assert (solution["score"], solution["max_score"]) == (100, 100), solution
    assert solution["checks"][0]["message"].startswith(
        "`model` (inputs standardised per feature) reached accuracy ")
    starter = json.loads(labgrader(flowers, "grade", str(lab / "starter.ipynb"), "--lab", "flowers",
                                   "--json").stdout)
    assert starter["score"] == 0
    assert starter["checks"][0]["message"] == (
        "no trained model named `model` was found after the notebook ran, and no flowers model turned up among its "
        "variables; train the network and assign it to `model`")


def test_the_hidden_split_never_enters_the_sandbox(flowers: Path) -> None:
    hidden = flowers / "data" / "labs" / "flowers" / "hidden" / "flowers.npz"
    with np.load(hidden) as archive:
        assert archive["x"].shape == (30, 4)
    probe = flowers / "probe.ipynb"
    probe.write_bytes(notebook_bytes(
        "import glob, os, numpy as np\n"
        "visible = np.load('data/flowers.npz')\n"
        f"seen = [os.path.exists({str(hidden)!r}), sorted(visible.files), sorted(glob.glob('**/*.npz', "
        "recursive=True))]\n"
        "raise RuntimeError(repr(seen))"))
    report = json.loads(labgrader(flowers, "grade", str(probe), "--lab", "flowers", "--json").stdout)
    assert report["note"] is None
    assert "cell 1 raised RuntimeError: [False, ['x_train', 'y_train'], ['data/flowers.npz']]" in \
        report["checks"][0]["message"]


def test_imports_that_cannot_work_say_why(tmp_path: Path) -> None:
    (tmp_path / "labs").mkdir()
    labgrader(tmp_path, "labs", "new", "flowers")
    write_flowers_csv(tmp_path / "flowers.csv")
    wrong_dataset = labgrader(tmp_path, "datasets", "import", "--lab", "flowers", "--dataset", "wine", "flowers.csv")
    assert (wrong_dataset.returncode, wrong_dataset.stderr) == (
        2, "error: lab flowers declares no dataset 'wine'; it declares: flowers\n")
    no_lab = labgrader(tmp_path, "datasets", "import", "--lab", "roses", "--dataset", "roses", "flowers.csv")
    assert (no_lab.returncode, no_lab.stderr) == (
        2, f"error: no lab 'roses' in {tmp_path / 'labs'} (labgrader labs list)\n")
    no_column = labgrader(tmp_path, "datasets", "import", "--lab", "flowers", "--dataset", "flowers", "--label",
                          "colour", "flowers.csv")
    assert no_column.stderr.startswith("error: flowers.csv has no column 'colour'; its columns: sepal length (cm), ")
    np.savez(tmp_path / "bad.npz", inputs=np.zeros((3, 4)))
    bad = labgrader(tmp_path, "datasets", "import", "--lab", "flowers", "--dataset", "flowers", "bad.npz")
    assert bad.stderr == ("error: bad.npz holds inputs; it needs x_train, y_train, x_test, y_test (split by you) or "
                          "x, y (split here)\n")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "split.npz", x_train=rng.random((40, 4)), y_train=rng.integers(0, 3, 40),
             x_test=rng.random((10, 4)), y_test=rng.integers(0, 3, 10))
    given = labgrader(tmp_path, "datasets", "import", "--lab", "flowers", "--dataset", "flowers", "split.npz")
    assert given.returncode == 0, given.stderr
    assert given.stdout.endswith("40 visible rows (./data/flowers.npz in every job), 10 hidden rows (never in a "
                                 "sandbox), 3 classes, inputs (4,); split as given: 10 test rows hidden\n")
