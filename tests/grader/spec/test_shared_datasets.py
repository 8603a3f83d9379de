"""A dataset declared once in the course's datasets.toml and taken by labs with `shared = "ID"`."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import SpecInvalid
from grader.spec.lab import load_spec
from grader.spec.problems import find_spec_problems
from lab_tasks import LABS_DIR

COURSE = '''[[datasets]]
id = "tumours"
title = "tumour"
classes = ["malignant", "benign"]
input_shape = [3]
dtype = "float64"
'''


def lab(root: Path, name: str, datasets: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "starter.ipynb").write_text("{}")
    toml = folder / "lab.toml"
    toml.write_text(f'id = "{name}"\ntitle = "t"\n\n{datasets}\n[[checks]]\nid = "r"\ntitle = "r"\npoints = 10\n'
                    'kind = "recall"\nmodel = "m"\ndataset = "tumours"\nclass = "malignant"\nfull_credit_at = 0.9\n'
                    'no_credit_at = 0.5\n')
    return toml


def test_labs_that_share_a_dataset_get_the_courses_declaration(tmp_path: Path) -> None:
    (tmp_path / "datasets.toml").write_text(COURSE)
    first = load_spec(lab(tmp_path, "first", '[[datasets]]\nshared = "tumours"\n'))
    second = load_spec(lab(tmp_path, "second", '[[datasets]]\nshared = "tumours"\n'))
    assert first.datasets == second.datasets
    assert (first.datasets[0].classes, first.datasets[0].dtype) == (("malignant", "benign"), "float64")
    assert find_spec_problems(tmp_path / "first") == []


def test_a_shared_id_the_course_does_not_declare_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "datasets.toml").write_text(COURSE)
    toml = lab(tmp_path, "third", '[[datasets]]\nshared = "tumors"\n')
    with pytest.raises(SpecInvalid, match=r"datasets\[0\]\.shared: .*datasets.toml declares no dataset 'tumors' "
                                          r"\(it declares: tumours\)"):
        load_spec(toml)
    [problem] = find_spec_problems(toml.parent)
    assert (problem.line, problem.key) == (5, "datasets[0].shared")


def test_a_shared_table_takes_no_other_key_and_needs_the_file(tmp_path: Path) -> None:
    toml = lab(tmp_path, "fourth", '[[datasets]]\nshared = "tumours"\n')
    with pytest.raises(SpecInvalid, match=r"datasets\.toml does not exist: write the shared"):
        load_spec(toml)
    (tmp_path / "datasets.toml").write_text(COURSE)
    toml.write_text(toml.read_text().replace('shared = "tumours"\n', 'shared = "tumours"\nseed = 3\n'))
    [problem] = find_spec_problems(toml.parent)
    assert problem.key == "datasets[0].seed"
    assert problem.message.startswith("a table with `shared` takes nothing else")


def test_the_bundled_mnist_labs_share_one_declaration() -> None:
    specs = [load_spec(LABS_DIR / name / "lab.toml") for name in ("frameworks", "perceptron", "own_framework")]
    mnist = [next(d for d in spec.datasets if d.id == "mnist") for spec in specs]
    assert mnist[0] == mnist[1] == mnist[2]
    assert mnist[0].split.kind == "test_half"
