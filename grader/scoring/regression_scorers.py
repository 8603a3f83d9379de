"""The scorers of a regression lab's checks (grader.spec.regression_checks): mean squared error, mean absolute error
and R² of the outputs the evaluator computed from the exported network on the hidden rows, against the hidden
targets. A prediction that is not a finite number counts as missed by an infinite error.

Each message says what was measured, in the target's name, the thresholds and the verdict; none holds a hidden value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.evaluation.result import ModelResult
from grader.scoring.registry import (
    ScoringInputs,
    failed,
    model_found,
    partial_credit,
    result,
    scorer,
    subject,
    verdict,
)
from grader.scoring.report import CheckResult
from grader.spec.regression_checks import MaeCheck, MseCheck, R2Check, RegressionCheck

Array = NDArray[np.float64]
ADVICE = ("train longer, tune the learning rate, standardise the inputs, and check that the network's one output is "
          "the prediction in the target's own units")


def as_values(outputs: list[float | None]) -> Array:
    """A stored list of outputs as floats (a None, a value that was not finite, as NaN)."""
    return np.array([np.nan if v is None else v for v in outputs], dtype=np.float64)


def regression_metric(kind: str, predicted: Array, target: Array) -> float:
    """mse, mae or r2 of predictions against targets; a non-finite prediction makes mse and mae infinite."""
    error = predicted - target
    if not np.isfinite(error).all():
        return float("inf") if kind != "r2" else float("-inf")
    if kind == "mse":
        return float(np.mean(error ** 2))
    if kind == "mae":
        return float(np.mean(np.abs(error)))
    spread = float(np.sum((target - target.mean()) ** 2))
    return 1.0 - float(np.sum(error ** 2)) / spread if spread > 0 else (1.0 if not error.any() else 0.0)


def _outputs(check: RegressionCheck, inputs: ScoringInputs) -> tuple[ModelResult, Array, Array] | CheckResult:
    """(the model's entry, its hidden outputs, the hidden targets), or the failed result saying why not."""
    entry = model_found(check, inputs, lambda e: e.outputs is not None)
    if isinstance(entry, CheckResult):
        return entry
    assert entry.outputs is not None
    target = np.asarray(inputs.lab.hidden_split(check.dataset).y, dtype=np.float64)
    predicted = as_values(entry.outputs)
    if predicted.shape != target.shape:
        return failed(check, f"{subject(entry)} returned {len(predicted)} predictions for {len(target)} inputs")
    return entry, predicted, target


def _target(inputs: ScoringInputs, dataset: str) -> str:
    return inputs.spec.dataset(dataset).target or "target"


def _error_check(check: MseCheck | MaeCheck, inputs: ScoringInputs, words: str) -> CheckResult:
    got = _outputs(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, target = got
    value = regression_metric(check.kind, predicted, target)
    score = partial_credit(value, check.full_credit_at, check.no_credit_at, check.points) if np.isfinite(value) \
        else 0.0
    passed = value <= check.full_credit_at
    shown = inputs.spec.dataset_title(check.dataset)
    finite = f"{value:.4g}" if np.isfinite(value) else "infinite (a prediction is not a finite number)"
    message = (f"{subject(entry)} predicted {_target(inputs, check.dataset)} of {len(target)} hidden {shown} rows with "
               f"{words} {finite} (full credit at or below {check.full_credit_at:g}, none at or above "
               f"{check.no_credit_at:g}): {verdict(score, check.points, passed)}")
    return result(check, passed, score, message if passed else f"{message}; {ADVICE}",
                  value if np.isfinite(value) else None)


@scorer("mse")
def score_mse(check: MseCheck, inputs: ScoringInputs) -> CheckResult:
    return _error_check(check, inputs, "a mean squared error of")


@scorer("mae")
def score_mae(check: MaeCheck, inputs: ScoringInputs) -> CheckResult:
    return _error_check(check, inputs, "a mean absolute error of")


@scorer("r2")
def score_r2(check: R2Check, inputs: ScoringInputs) -> CheckResult:
    got = _outputs(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, target = got
    value = regression_metric("r2", predicted, target)
    finite = bool(np.isfinite(value))
    score = partial_credit(value, check.full_credit_at, check.no_credit_at, check.points) if finite else 0.0
    passed = value >= check.full_credit_at
    shown = inputs.spec.dataset_title(check.dataset)
    reached = f"R² {value:.3f}" if finite else "no R² (a prediction is not a finite number)"
    message = (f"{subject(entry)} reached {reached} predicting {_target(inputs, check.dataset)} of {len(target)} "
               f"hidden {shown} rows (1 is perfect, 0 is always predicting their mean; full credit at "
               f"{check.full_credit_at:g}, none at or below {check.no_credit_at:g}): "
               f"{verdict(score, check.points, passed)}")
    return result(check, passed, score, message if passed else f"{message}; {ADVICE}", value if finite else None)


def r2_gap(entry: ModelResult, hidden: Any, sample: Any) -> tuple[float, float] | None:
    """(training R², hidden R²) of a regression slot, for the overfitting gap; None when it has no outputs."""
    if entry.outputs is None or entry.train_outputs is None:
        return None
    predicted, train = as_values(entry.outputs), as_values(entry.train_outputs)
    if predicted.shape != np.shape(hidden) or train.shape != np.shape(sample):
        return None
    return (regression_metric("r2", train, np.asarray(sample, np.float64)),
            regression_metric("r2", predicted, np.asarray(hidden, np.float64)))
