"""`ops` and `max_parameters` in lab.toml (issue 23): validated by the schema with the key's line, and carried to the
evaluator's job (the op family of the lab, each slot's parameter cap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import SpecInvalid
from grader.evaluation.request import slot_max_parameters
from grader.spec.lab import load_spec

CHECK = """
[[checks]]
id = "{check}"
title = "A network"
points = 10
kind = "accuracy"
model = "mnist_model"
dataset = "mnist"
{cap}
full_credit_at = 0.9
no_credit_at = 0.5
"""
DATASET = """
[[datasets]]
id = "mnist"
title = "MNIST"
classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
"""


def write_lab(tmp_path: Path, head: str, *caps: str) -> Path:
    folder = tmp_path / "lab"
    folder.mkdir(exist_ok=True)
    checks = "".join(CHECK.format(check=f"check_{i}", cap=cap) for i, cap in enumerate(caps or ("",)))
    path = folder / "lab.toml"
    path.write_text(f'id = "lab"\ntitle = "A lab"\n{head}\n{checks}{DATASET}')
    return path


def test_a_lab_declares_its_op_family_and_its_models_caps(tmp_path: Path) -> None:
    spec = load_spec(write_lab(tmp_path, 'ops = "dense"', "max_parameters = 2_000_000", "max_parameters = 50_000"))
    assert spec.ops == "dense"
    assert slot_max_parameters(spec) == {"mnist_model": 50_000}  # the strictest of the checks of that model


def test_without_ops_a_lab_allows_convolutions_and_caps_nothing(tmp_path: Path) -> None:
    spec = load_spec(write_lab(tmp_path, ""))
    assert (spec.ops, slot_max_parameters(spec)) == ("conv", {})


@pytest.mark.parametrize(("head", "cap", "problem"), [
    ('ops = "pool"', "", "lab.toml:3: ops: Input should be 'dense' or 'conv'"),
    ("ops = 1", "", "lab.toml:3: ops: Input should be 'dense' or 'conv'"),
    ("", "max_parameters = 0", "lab.toml:12: checks[0].max_parameters: Input should be greater than or equal to 1"),
    ("", 'max_parameters = "many"', "lab.toml:12: checks[0].max_parameters: Input should be a valid integer, unable "
                                    "to parse string as an integer"),
])
def test_a_wrong_op_family_or_cap_names_its_key_and_line(tmp_path: Path, head: str, cap: str, problem: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(write_lab(tmp_path, head, cap))
    assert str(caught.value) == f"{tmp_path / 'lab'}/{problem}"
