"""Every number an instructor tunes on a check kind is in its `thresholds()`, which `GET /api/v1/labs` shows."""

from __future__ import annotations

import typing

from pydantic import TypeAdapter

from grader.spec.lab import Check


def test_every_threshold_of_every_check_kind_is_shown() -> None:
    kinds = typing.get_args(typing.get_args(Check)[0])
    assert [kind.__name__ for kind in kinds] == ["AccuracyCheck", "OverfittingGapCheck", "EarlyStoppingCheck",
                                                 "RecallCheck", "PrecisionCheck", "F1Check", "BalancedAccuracyCheck",
                                                 "TopKAccuracyCheck", "MinClassRecallCheck", "MseCheck", "MaeCheck",
                                                 "R2Check", "MeanReturnCheck", "SuccessRateCheck"]
    metric = {"full_credit_at": 0.9, "no_credit_at": 0.5, "model": "m", "dataset": "d"}
    for kind in kinds:
        tuned = {name for name, field in kind.model_fields.items()
                 if field.annotation in (float, int) and name != "points"}
        # the class a metric measures and F1's average are tuned too, by name
        tuned |= {field.alias or name for name, field in kind.model_fields.items() if name in ("class_name", "average")}
        example = {"accuracy": {"full_credit_at": 0.9, "no_credit_at": 0.5, "model": "m", "dataset": "d"},
                   "overfitting_gap": {"full_credit_at": 0.03, "no_credit_at": 0.08, "min_hidden_accuracy": 0.9,
                                       "model": "m", "dataset": "d"},
                   "early_stopping": {"history": "h", "patience": 3},
                   "recall": {**metric, "class": "a"}, "precision": {**metric, "class": "a"},
                   "f1": {**metric, "average": "binary", "class": "a"}, "balanced_accuracy": metric,
                   "top_k_accuracy": {**metric, "k": 3}, "min_class_recall": metric,
                   "mse": {"full_credit_at": 1, "no_credit_at": 2, "model": "m", "dataset": "d"},
                   "mae": {"full_credit_at": 1, "no_credit_at": 2, "model": "m", "dataset": "d"}, "r2": metric,
                   "mean_return": {**metric, "full_credit_at": -120.0, "no_credit_at": -200.0},
                   "success_rate": metric}
        name = typing.get_args(kind.model_fields["kind"].annotation)[0]
        check = TypeAdapter(Check).validate_python({"id": "c", "title": "t", "points": 1, "kind": name,
                                                    **example[name]})
        assert tuned and set(check.thresholds()) == tuned, kind.__name__
    gap = TypeAdapter(Check).validate_python({"id": "gap", "title": "t", "points": 1, "kind": "overfitting_gap",
                                              **example["overfitting_gap"]})
    assert gap.thresholds() == {"full_credit_at": 0.03, "no_credit_at": 0.08, "min_hidden_accuracy": 0.9}

