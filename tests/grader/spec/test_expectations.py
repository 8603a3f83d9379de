"""A lab's expectations.toml: validated against the lab's checks and files, and each check's earned points compared
with "pass", "fail", "partial" or a range (what `labgrader labs test` prints and exits with)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import SpecInvalid
from grader.spec.expectations import Comparison, compare_expectations, load_expectations
from grader.spec.lab import load_spec
from lab_tasks import LABS_DIR

LAB = '''id = "tiny"
title = "t"

[[datasets]]
id = "d"
title = "D"

[[checks]]
id = "accuracy"
title = "a"
kind = "accuracy"
model = "m"
dataset = "d"
points = 60
full_credit_at = 0.9
no_credit_at = 0.5

[[checks]]
id = "gap"
title = "g"
kind = "overfitting_gap"
model = "m"
dataset = "d"
points = 40
full_credit_at = 0.03
no_credit_at = 0.08
'''


def tiny(tmp_path: Path, expectations: str) -> Path:
    folder = tmp_path / "tiny"
    (folder / "solutions").mkdir(parents=True)
    (folder / "lab.toml").write_text(LAB)
    for name in ("starter.ipynb", "solutions/good.ipynb"):
        (folder / name).write_text("{}")
    (folder / "expectations.toml").write_text(expectations)
    return folder


def test_each_check_and_the_total_against_what_the_notebook_expects(tmp_path: Path) -> None:
    folder = tiny(tmp_path, '[[notebooks]]\npath = "starter.ipynb"\nevery = "fail"\n\n[[notebooks]]\n'
                            'path = "solutions/good.ipynb"\nevery = "pass"\nchecks = { gap = [20, 40] }\n'
                            'score = [80, 100]\n')
    starter, good = load_expectations(folder, load_spec(folder / "lab.toml")).notebooks
    assert compare_expectations(starter, {"accuracy": (0.0, 60.0), "gap": (12.5, 40.0)}) == [
        Comparison("starter.ipynb", "accuracy", "fail", 0.0, 60.0, True),
        Comparison("starter.ipynb", "gap", "fail", 12.5, 40.0, False)]
    assert [(r.check, r.expected, r.ok) for r in compare_expectations(good, {"accuracy": (60.0, 60.0),
                                                                             "gap": (25.0, 40.0)})] == [
        ("accuracy", "pass", True), ("gap", "20..40", True), ("total", "80..100", True)]
    partial = good.model_copy(update={"checks": {"gap": "partial"}, "score": None})
    assert [r.ok for r in compare_expectations(partial, {"accuracy": (59.0, 60.0), "gap": (40.0, 40.0)})] == [
        False, False]


@pytest.mark.parametrize(("text", "problem"), [
    ('[[notebooks]]\npath = "starter.ipynb"\nchecks = { acuracy = "fail" }\n',
     "notebooks[0].checks: lab tiny has no check 'acuracy' (its checks: accuracy, gap)"),
    ('[[notebooks]]\npath = "solutions/missing.ipynb"\nevery = "pass"\n',
     "notebooks[0].path: 'solutions/missing.ipynb' is not a file in"),
    ('[[notebooks]]\npath = "starter.ipynb"\n', "expect something: `every`, `checks` or `score`"),
    ('[[notebooks]]\npath = "starter.ipynb"\nscore = [10, 0]\n', "a range is [low, high], not [10, 0]"),
    ('[[notebooks]]\npath = "../other/starter.ipynb"\nevery = "fail"\n', "must stay inside its folder"),
    ('[[notebooks]]\npath = "starter.ipynb"\nevery = "perfect"\n', "notebooks.0.every"),
])
def test_expectations_are_checked_against_the_lab(tmp_path: Path, text: str, problem: str) -> None:
    folder = tiny(tmp_path, text)
    with pytest.raises(SpecInvalid) as raised:
        load_expectations(folder, load_spec(folder / "lab.toml"))
    assert problem in str(raised.value)


def test_a_lab_without_expectations_is_told_where_to_write_them(tmp_path: Path) -> None:
    folder = tiny(tmp_path, "")
    (folder / "expectations.toml").unlink()
    with pytest.raises(SpecInvalid, match=r"expectations\.toml does not exist: list the lab's notebooks"):
        load_expectations(folder, load_spec(folder / "lab.toml"))


@pytest.mark.parametrize("lab", ["digits", "frameworks", "mountain_car", "own_framework", "perceptron"])
def test_every_bundled_lab_carries_expectations_for_its_starter_and_each_solution(lab: str) -> None:
    folder = LABS_DIR / lab
    expectations = load_expectations(folder, load_spec(folder / "lab.toml"))
    listed = sorted(n.path for n in expectations.notebooks)
    assert listed == sorted(["starter.ipynb", *(f"solutions/{p.name}" for p in (folder / "solutions").glob("*.ipynb"))])
