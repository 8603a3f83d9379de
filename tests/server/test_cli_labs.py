"""`labgrader labs list|validate|new`, run as the real command on real folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import LABGRADER, REPO, server_env

WINE_SPLIT = ("  dataset wine: no [datasets.split] declared: an imported file with a test part (x_test and y_test, or "
              "train/ and test/ folders) is hidden as given; any other is split stratified, 0.2 of the rows hidden "
              "(datasets import --hidden-fraction), seed 20241130\n")

BAD_TOML = """id = "bad"
title = "A lab with mistakes"
colour = "blue"

[limits]
cell_timeout_s = -5

[[checks]]
id = "fine"
title = "A correct check"
kind = "accuracy"
model = "m"
dataset = "d"
points = 10
full_credit_at = 0.9
no_credit_at = 0.5

[[checks]]
id = "reversed"
title = "Thresholds the wrong way round"
kind = "accuracy"
model = "m"
dataset = "d"
points = 10
full_credit_at = 0.5
no_credit_at = 0.9

[[checks]]
id = "no_model"
title = "No model and a threshold above 1"
kind = "accuracy"
dataset = "d"
points = 10
full_credit_at = 1.5
no_credit_at = 0.5

[[checks]]
id = "unknown"
title = "A kind that does not exist"
kind = "roc_auc"
points = 5
"""


def labgrader(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABGRADER, *args], cwd=tmp_path, env=server_env(tmp_path, **env), capture_output=True,
                          text=True, timeout=120)


def test_every_error_names_its_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "lab.toml").write_text(BAD_TOML)
    out = labgrader(tmp_path, "labs", "validate", "bad")
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == (
        "bad/lab.toml:3: colour: unknown key (a typo, or a key this version of Labgrader does not know)\n"
        "bad/lab.toml:6: limits.cell_timeout_s: Input should be greater than 0\n"
        "bad/lab.toml:18: checks[1]: check reversed: no_credit_at must be below full_credit_at\n"
        "bad/lab.toml:28: checks[2].model: Field required\n"
        "bad/lab.toml:34: checks[2].full_credit_at: Input should be less than or equal to 1\n"
        "bad/lab.toml:40: checks[3].kind: Input tag 'roc_auc' found using 'kind' does not match any of the "
        "expected tags: 'accuracy', 'overfitting_gap', 'early_stopping', 'recall', 'precision', 'f1', "
        "'balanced_accuracy', 'top_k_accuracy', 'min_class_recall', 'mse', 'mae', 'r2', 'mean_return', "
        "'success_rate'\n"
        "6 problem(s) in bad\n")


def test_syntax_errors_folder_names_and_missing_starters_are_reported(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "lab.toml").write_text('id = "broken"\ntitle = \n')
    out = labgrader(tmp_path, "labs", "validate", "broken/lab.toml")
    assert out.returncode == 1
    assert out.stderr == ("broken/lab.toml:2: (syntax): Invalid value (at line 2, column 9)\n"
                          "1 problem(s) in broken/lab.toml\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "lab.toml").write_text(
        BAD_TOML.split("[limits]")[0].replace('colour = "blue"\n', 'starter = "lab.ipynb"\n')
        + '[[datasets]]\nid = "d"\ntitle = "D"\n\n[[checks]]\n' + BAD_TOML.split("[[checks]]")[1])
    out = labgrader(tmp_path, "labs", "validate", "other")
    assert out.stderr == ("other/lab.toml:1: id: lab id 'bad' must match its folder name 'other'\n"
                          f"other/lab.toml:3: starter: the starter notebook 'lab.ipynb' is not in {'other'}\n"
                          "2 problem(s) in other\n")


def test_a_check_on_an_undeclared_dataset_is_named_by_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "undeclared").mkdir()
    fine = BAD_TOML.split("[[checks]]")[1]
    (tmp_path / "undeclared" / "lab.toml").write_text(
        'id = "undeclared"\ntitle = "t"\n\n[[datasets]]\nid = "e"\ntitle = "E"\n\n[[checks]]' + fine)
    out = labgrader(tmp_path, "labs", "validate", "undeclared")
    assert out.stderr == ("undeclared/lab.toml:13: checks[0].dataset: dataset 'd' is not declared; declare it in a "
                          "[[datasets]] table (declared: e)\n1 problem(s) in undeclared\n")


def test_a_new_lab_validates_and_is_listed(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    labs.mkdir()
    created = labgrader(tmp_path, "labs", "new", "wine", LABGRADER_LABS_DIR=str(labs))
    assert created.returncode == 0, created.stderr
    assert created.stdout == (f"created lab wine in {labs / 'wine'}: lab.toml, starter.ipynb, "
                              "solutions/solution.ipynb, expectations.toml\n"
                              f"next: edit lab.toml, `labgrader labs validate {labs / 'wine'}`, import its data, "
                              f"`labgrader labs test {labs / 'wine'}`; see docs/lab-author.md\n")
    assert sorted(p.name for p in (labs / "wine").rglob("*")) == ["expectations.toml", "lab.toml", "solution.ipynb",
                                                                   "solutions", "starter.ipynb"]
    valid = labgrader(tmp_path, "labs", "validate", str(labs / "wine"))
    assert valid.returncode == 0
    assert valid.stdout == (f"{labs / 'wine' / 'lab.toml'}: valid: lab wine, 1 check, 100 points, datasets wine\n"
                            + WINE_SPLIT)
    (labs / "bad").mkdir()
    (labs / "bad" / "lab.toml").write_text(BAD_TOML)
    listed = labgrader(tmp_path, "labs", "list", LABGRADER_LABS_DIR=str(labs))
    assert listed.returncode == 0
    assert listed.stdout == (
        f"labs in {labs}:\n"
        f"  bad: INVALID: {labs / 'bad' / 'lab.toml'}:3: colour: unknown key (a typo, or a key this version of "
        f"Labgrader does not know) (6 problem(s): labgrader labs validate {labs / 'bad'})\n"
        "  wine: wine: a classifier on the lab's data (1 check, 100 points; data: wine missing)\n")
    again = labgrader(tmp_path, "labs", "new", "wine", LABGRADER_LABS_DIR=str(labs))
    assert (again.returncode, again.stderr) == (2, f"error: {labs / 'wine'} already exists; nothing was written\n")
    wrong = labgrader(tmp_path, "labs", "new", "My Lab", "--dir", str(labs))
    assert wrong.returncode == 2
    assert wrong.stderr == ("error: 'My Lab' is not a lab id: lowercase letters, digits and _, starting with a "
                            "letter, at most 63 characters\n")


def test_the_bundled_labs_validate() -> None:
    for toml in sorted((REPO / "lab_tasks").glob("*/lab.toml")):
        out = subprocess.run([*LABGRADER, "labs", "validate", str(toml.parent)], capture_output=True, text=True,
                             timeout=120, env=server_env(REPO))
        assert out.returncode == 0, out.stderr


def test_validate_takes_ids_and_paths_several_at_once(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    labs.mkdir()
    assert labgrader(tmp_path, "labs", "new", "wine", LABGRADER_LABS_DIR=str(labs)).returncode == 0
    first_line = (labs / "wine" / "lab.toml").read_text().splitlines()[0]
    assert first_line == ("# Lab wine: docs/lab-author.md explains every key; check it with "
                          "`labgrader labs validate wine`.")
    (labs / "bad").mkdir()
    (labs / "bad" / "lab.toml").write_text(BAD_TOML)
    both = labgrader(tmp_path, "labs", "validate", "wine", str(labs / "wine" / "lab.toml"),
                     LABGRADER_LABS_DIR=str(labs))
    assert (both.returncode, both.stderr) == (0, "")
    assert both.stdout == 2 * (f"{labs / 'wine' / 'lab.toml'}: valid: lab wine, 1 check, 100 points, datasets "
                               "wine\n" + WINE_SPLIT)
    mixed = labgrader(tmp_path, "labs", "validate", "wine", "bad", "nosuch", "../etc", LABGRADER_LABS_DIR=str(labs))
    assert mixed.returncode == 1
    assert mixed.stdout == (f"{labs / 'wine' / 'lab.toml'}: valid: lab wine, 1 check, 100 points, datasets wine\n"
                            + WINE_SPLIT)
    assert mixed.stderr.splitlines()[-4:] == [
        f"6 problem(s) in {labs / 'bad'}",
        f"nosuch: not a lab folder, a lab.toml, or a lab id in {labs} (set LABGRADER_LABS_DIR to the folder holding "
        "your labs)",
        f"../etc: not a lab folder, a lab.toml, or a lab id in {labs} (set LABGRADER_LABS_DIR to the folder holding "
        "your labs)",
        "3 of 4 labs failed"]
    elsewhere = tmp_path / "drafts"
    elsewhere.mkdir()
    assert labgrader(tmp_path, "labs", "new", "beer", "--dir", str(elsewhere),
                     LABGRADER_LABS_DIR=str(labs)).returncode == 0
    comment = (elsewhere / "beer" / "lab.toml").read_text().splitlines()[0]
    assert comment.endswith(f"check it with `labgrader labs validate {elsewhere / 'beer'}`.")
    found = labgrader(tmp_path, "labs", "validate", str(elsewhere / "beer"), LABGRADER_LABS_DIR=str(labs))
    assert found.returncode == 0, found.stderr
    toml = labs / "wine" / "lab.toml"
    toml.write_text(toml.read_text().replace("\n[[checks]]", '[datasets.split]\nkind = "given"\n\n[[checks]]', 1))
    declared = labgrader(tmp_path, "labs", "validate", "wine", LABGRADER_LABS_DIR=str(labs))
    assert declared.stdout == f"{toml}: valid: lab wine, 1 check, 100 points, datasets wine\n"


def test_labs_test_says_what_it_cannot_read_and_exits_2(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    labs.mkdir()
    assert labgrader(tmp_path, "labs", "new", "wine", LABGRADER_LABS_DIR=str(labs)).returncode == 0
    (labs / "wine" / "expectations.toml").write_text('[[notebooks]]\npath = "starter.ipynb"\n'
                                                     'checks = { acuracy = "fail" }\n')
    invalid = labgrader(tmp_path, "labs", "validate", "wine", LABGRADER_LABS_DIR=str(labs))
    assert invalid.returncode == 1
    assert invalid.stderr == (f"{labs / 'wine' / 'expectations.toml'}: notebooks[0].checks: lab wine has no check "
                              f"'acuracy' (its checks: accuracy)\n1 problem(s) in {labs / 'wine'}\n")
    typo = labgrader(tmp_path, "labs", "test", "wine", LABGRADER_LABS_DIR=str(labs))
    assert (typo.returncode, typo.stdout) == (2, "")
    assert typo.stderr == (f"error: {labs / 'wine' / 'expectations.toml'}: notebooks[0].checks: lab wine has no "
                           "check 'acuracy' (its checks: accuracy)\n")
    (labs / "wine" / "expectations.toml").unlink()
    missing = labgrader(tmp_path, "labs", "test", "wine", "nosuch", LABGRADER_LABS_DIR=str(labs))
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"error: {labs / 'wine' / 'expectations.toml'} does not exist: list the lab's notebooks and what each must "
        "earn there (docs/lab-author.md, \"Test the lab\")",
        f"error: nosuch: not a lab folder, a lab.toml, or a lab id in {labs}"]
