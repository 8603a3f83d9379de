"""The regression scorers (mse, mae, r2, and the overfitting gap in R²) on hand-built evaluation results and a small
hidden split of float targets (no kernels): the numbers, the partial credit and whole messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.data.lab_data import LabData
from grader.evaluation.result import ArchitectureFacts, EvaluationResult, HistoryResult, ModelResult
from grader.scoring.scorers import SCORERS, score_checks
from grader.spec.dataset import DatasetSpec
from grader.spec.lab import LabSpec

HIDDEN_Y = np.array([1.0, 2.0, 3.0, 4.0])
PREDICTED = [1.5, 2.0, 2.5, 5.0]  # errors 0.5, 0, -0.5, 1: mse 0.375, mae 0.5, r2 1 - 1.5 / 5 = 0.7
TRAIN_Y = np.array([0.0, 2.0, 4.0, 6.0])
TRAIN_OUTPUTS = [0.0, 2.0, 4.0, 6.5]  # r2 1 - 0.25 / 20 = 0.9875
HOUSES = DatasetSpec(id="houses", title="house price", target="price", input_shape=(2,),
                     split={"kind": "random", "held_out": 0.2})


@pytest.fixture
def lab(tmp_path: Path) -> LabData:
    lab = LabData(tmp_path, "regression")
    lab.hidden.mkdir(parents=True)
    lab.visible.mkdir(parents=True)
    np.savez(lab.hidden / "houses.npz", x=np.zeros((4, 2), np.float32), y=HIDDEN_Y)
    np.savez(lab.visible / "houses.npz", x_train=np.zeros((4, 2), np.float32), y_train=TRAIN_Y)
    return lab


def check(kind: str, full: float, none: float, **extra: Any) -> dict[str, Any]:
    return {"id": kind, "title": kind, "kind": kind, "model": "net", "dataset": "houses", "points": 10,
            "full_credit_at": full, "no_credit_at": none, **extra}


def model(outputs: list[float | None], train: list[float | None] | None = None) -> ModelResult:
    facts = ArchitectureFacts(framework="torch", dense_layers=2, parameters=20, input_size=2, output_size=1)
    return ModelResult(name="net", found=True, via="contract", source="`net`", framework="torch", facts=facts,
                       preprocessing="raw", preprocessing_words="inputs used as they are", outputs=outputs,
                       train_outputs=train)


def grade(lab: LabData, *checks: dict[str, Any], models: tuple[ModelResult, ...] = ()) -> dict[str, Any]:
    spec = LabSpec.model_validate({"id": "regression", "title": "regression", "datasets": [HOUSES],
                                   "checks": list(checks)})
    return {r.id: r for r in score_checks(spec, EvaluationResult(models=list(models)), lab, "")}


def test_every_regression_kind_is_registered() -> None:
    assert {"mse", "mae", "r2"} <= set(SCORERS)


def test_mse_with_partial_credit_and_advice(lab: LabData) -> None:
    got = grade(lab, check("mse", 0.25, 0.5), models=(model(PREDICTED),))["mse"]
    assert (got.passed, got.score, got.measured) == (False, 5.0, 0.375)
    assert got.message == (
        "`net` (inputs used as they are) predicted price of 4 hidden house price rows with a mean squared error of "
        "0.375 (full credit at or below 0.25, none at or above 0.5): partial credit, 5 of 10 points; train longer, "
        "tune the learning rate, standardise the inputs, and check that the network's one output is the prediction "
        "in the target's own units")


def test_mae_full_credit_and_r2(lab: LabData) -> None:
    got = grade(lab, check("mae", 0.5, 1.0), check("r2", 0.6, 0.2), models=(model(PREDICTED),))
    assert (got["mae"].passed, got["mae"].score, got["mae"].measured) == (True, 10.0, 0.5)
    assert got["mae"].message == (
        "`net` (inputs used as they are) predicted price of 4 hidden house price rows with a mean absolute error of "
        "0.5 (full credit at or below 0.5, none at or above 1): full credit")
    assert (got["r2"].passed, got["r2"].score, got["r2"].measured) == (True, 10.0, 0.7)
    assert got["r2"].message == (
        "`net` (inputs used as they are) reached R² 0.700 predicting price of 4 hidden house price rows (1 is "
        "perfect, 0 is always predicting their mean; full credit at 0.6, none at or below 0.2): full credit")


def test_a_prediction_that_is_not_finite_earns_nothing(lab: LabData) -> None:
    got = grade(lab, check("mse", 0.25, 0.5), check("r2", 0.6, 0.2), models=(model([1.0, None, 3.0, 4.0]),))
    assert (got["mse"].score, got["mse"].measured, got["r2"].score) == (0.0, None, 0.0)
    assert "with a mean squared error of infinite (a prediction is not a finite number)" in got["mse"].message


def test_the_overfitting_gap_of_a_regression_model_is_in_r2(lab: LabData) -> None:
    gap = {"id": "gap", "title": "gap", "kind": "overfitting_gap", "model": "net", "dataset": "houses", "points": 4,
           "full_credit_at": 0.1, "no_credit_at": 0.5, "min_hidden_accuracy": 0.5}
    got = grade(lab, gap, models=(model(PREDICTED, TRAIN_OUTPUTS),))["gap"]
    assert (got.passed, got.score, got.measured) == (False, 2.125, 0.2875)
    assert got.message == (
        "`net` (inputs used as they are) reached R² 0.988 on 4 training rows and 0.700 on the hidden rows: gap "
        "0.288 (full credit at or below 0.10, none at or above 0.50): partial credit, 2.125 of 4 points; the network "
        "memorises its training data: stop training at the validation-loss minimum, add weight decay, or use fewer "
        "hidden units")


def test_a_missing_regression_model_says_so(lab: LabData) -> None:
    got = grade(lab, check("r2", 0.6, 0.2))["r2"]
    assert (got.passed, got.score) == (False, 0.0)
    assert got.message == ("no trained model named `net` was found after the notebook ran, and no house price model "
                           "turned up among its variables; train the network and assign it to `net`")


def test_early_stopping_reads_the_history_of_a_regression_model(lab: LabData) -> None:
    """The network the history records was evaluated (its outputs, not classes), so its history counts."""
    stop = {"id": "stop", "title": "stop", "kind": "early_stopping", "history": "history", "model": "net",
            "points": 5, "patience": 1}
    spec = LabSpec.model_validate({"id": "regression", "title": "regression", "datasets": [HOUSES], "checks": [
        check("r2", 0.6, 0.2), stop]})
    history = HistoryResult(name="history", found=True, source="`history`", loss=[9.0, 5.0, 3.0, 2.0],
                            val_loss=[9.0, 6.0, 4.0, 4.5])
    results = score_checks(spec, EvaluationResult(models=[model(PREDICTED, TRAIN_OUTPUTS)], histories=[history]),
                           lab, "")
    assert [(r.id, r.passed, r.score) for r in results] == [("r2", True, 10.0), ("stop", True, 5.0)]
