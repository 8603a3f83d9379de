"""A regression dataset (`target` instead of classes, a `random` split) and its check kinds (mse, mae, r2): what the
schema accepts and the one-line refusals of what it does not, and per-slot limits (`[models.NAME]`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from grader.spec.lab import LabSpec

DIABETES = {"id": "diabetes", "title": "diabetes", "target": "progression", "source": {"sklearn": "load_diabetes"},
            "split": {"kind": "random", "held_out": 0.2}}
DIGITS = {"id": "digits", "title": "digits", "classes": [str(d) for d in range(10)],
          "source": {"sklearn": "load_digits"}, "split": {"kind": "stratified", "held_out": 0.2}}


def lab(*checks: dict[str, Any], datasets: tuple[dict[str, Any], ...] = (DIABETES,), **extra: Any) -> LabSpec:
    return LabSpec.model_validate({"id": "lab", "title": "lab", "datasets": list(datasets), "checks": list(checks),
                                   **extra})


def check(kind: str, full: float, none: float, dataset: str = "diabetes") -> dict[str, Any]:
    return {"id": kind, "title": kind, "kind": kind, "points": 1, "model": "net", "dataset": dataset,
            "full_credit_at": full, "no_credit_at": none}


def refusal(*checks: dict[str, Any], datasets: tuple[dict[str, Any], ...] = (DIABETES,), **extra: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        lab(*checks, datasets=datasets, **extra)
    return str(caught.value.errors()[0]["msg"]).removeprefix("Value error, ")


def test_a_regression_lab_validates() -> None:
    spec = lab(check("mse", 3000, 6000), check("mae", 45, 60), check("r2", 0.4, 0.1))
    assert spec.dataset("diabetes").regression
    assert [c.thresholds() for c in spec.checks] == [{"full_credit_at": 3000, "no_credit_at": 6000},
                                                     {"full_credit_at": 45, "no_credit_at": 60},
                                                     {"full_credit_at": 0.4, "no_credit_at": 0.1}]


def test_an_error_check_with_its_thresholds_the_wrong_way_round() -> None:
    assert refusal(check("mse", 6000, 3000)) == (
        "check mse: an error is better when lower, so full_credit_at (6000) must be below no_credit_at (3000)")
    assert refusal(check("r2", 0.1, 0.4)) == (
        "check r2: R² is better when higher, so no_credit_at (0.4) must be below full_credit_at (0.1)")


def test_checks_of_the_other_kind_of_dataset_are_refused() -> None:
    assert refusal(check("accuracy", 0.9, 0.5)) == (
        "checks[0].dataset: a accuracy check measures a classifier, and dataset 'diabetes' is a regression dataset "
        "(target 'progression'); use mse, mae or r2")
    assert refusal(check("mae", 1, 2, "digits"), datasets=(DIGITS,)) == (
        "checks[0].dataset: a mae check measures a regression model, and dataset 'digits' has classes, not a numeric "
        "target; declare `target = \"NAME\"` in its [[datasets]] table (and no classes), or use a classifier's check "
        "(accuracy, f1, ...)")


def test_a_regression_dataset_has_no_classes_and_no_stratified_split() -> None:
    assert refusal(check("mse", 1, 2), datasets=({**DIABETES, "classes": ["low", "high"]},)) == (
        "dataset diabetes: a regression dataset (target 'progression') has no classes; declare `target` or "
        "`classes`, not both")
    stratified = {**DIABETES, "split": {"kind": "stratified", "held_out": 0.2}}
    assert refusal(check("mse", 1, 2), datasets=(stratified,)) == (
        "dataset diabetes: a regression dataset has no classes to stratify by; use split.kind = \"random\" with "
        "held_out")


def test_per_slot_limits_name_an_evaluated_model() -> None:
    spec = lab(check("mse", 1, 2), models={"net": {"max_inference_ms": 50, "max_parameters": 1000}})
    assert (spec.models["net"].max_inference_ms, spec.models["net"].max_parameters) == (50, 1000)
    assert refusal(check("mse", 1, 2), models={"other": {"max_inference_ms": 50}}) == (
        "models.other: no check evaluates a model `other` (checks evaluate: net)")
