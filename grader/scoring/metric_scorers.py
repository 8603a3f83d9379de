"""The scorers of the classifier metrics (grader.spec.metric_checks): recall, precision, F1, balanced accuracy,
top-k accuracy and the floor on every class's recall, from the hidden predictions the evaluator computed.

Each message names classes by their declared names, says what was counted ("41 of 42 hidden malignant samples"),
the thresholds and the verdict, and what to try when short of full credit; none holds a hidden input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.evaluation.result import ModelResult
from grader.scoring.registry import (
    ScoringInputs,
    class_name,
    failed,
    model_found,
    partial_credit,
    result,
    scorer,
    subject,
    verdict,
)
from grader.scoring.report import CheckResult
from grader.spec.metric_checks import (
    BalancedAccuracyCheck,
    F1Check,
    MetricCheck,
    MinClassRecallCheck,
    PrecisionCheck,
    RecallCheck,
    TopKAccuracyCheck,
)

Array = NDArray[Any]
NEGLECTED = ("the network neglects some classes: weight the rare classes more in the loss (class weights) or "
             "oversample them, and train longer")


def _predictions(check: MetricCheck, inputs: ScoringInputs) -> tuple[ModelResult, Array, Array] | CheckResult:
    """(the model's entry, its hidden predictions, the hidden labels), or the failed result saying why not."""
    entry = model_found(check, inputs, lambda e: e.predictions is not None)
    if isinstance(entry, CheckResult):
        return entry
    assert entry.predictions is not None
    labels = np.asarray(inputs.lab.hidden_split(check.dataset).y, dtype=np.int64)
    predicted = np.asarray(entry.predictions, dtype=np.int64)
    if predicted.shape != labels.shape:
        return failed(check, f"{subject(entry)} returned {len(predicted)} predictions for {len(labels)} inputs")
    return entry, predicted, labels


def _graded(check: MetricCheck, entry: ModelResult, value: float, measured: str, advice: str) -> CheckResult:
    """Linear partial credit between the thresholds (higher is better), in the words accuracy uses."""
    score = partial_credit(value, check.full_credit_at, check.no_credit_at, check.points)
    passed = value >= check.full_credit_at
    message = (f"{subject(entry)} reached {measured} (full credit at {check.full_credit_at:.2f}, none at or below "
               f"{check.no_credit_at:.2f}): {verdict(score, check.points, passed)}")
    return result(check, passed, score, f"{message}; {advice}" if not passed else message, value)


def _class_index(check: RecallCheck | PrecisionCheck | F1Check, inputs: ScoringInputs) -> int:
    # the spec refuses a class its dataset does not declare, so the name is there
    return inputs.spec.dataset(check.dataset).classes.index(check.class_name or "")


def _recalls(predicted: Array, labels: Array) -> dict[int, tuple[int, int]]:
    """Every class of the hidden labels -> (its samples predicted as it, its samples)."""
    return {int(c): (int((predicted[labels == c] == c).sum()), int((labels == c).sum())) for c in np.unique(labels)}


def _precision_recall(predicted: Array, labels: Array, positive: int) -> tuple[float, float, int, int, int]:
    """(precision, recall, true positives, predicted positives, actual positives); 0 where nothing is counted."""
    hits = int(((predicted == positive) & (labels == positive)).sum())
    claimed, actual = int((predicted == positive).sum()), int((labels == positive).sum())
    return (hits / claimed if claimed else 0.0), (hits / actual if actual else 0.0), hits, claimed, actual


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _absent(check: MetricCheck, inputs: ScoringInputs, labels: Array) -> str:
    """The declared classes with no hidden sample, which a mean or floor over the classes cannot count (a class's
    recall needs samples of it): said in the message, never dropped silently."""
    declared = inputs.spec.dataset(check.dataset).classes
    present = {int(c) for c in np.unique(labels)}
    missing = [name for index, name in enumerate(declared) if index not in present]
    if not missing:
        return ""
    listed = ", ".join(missing)
    return (f"; not counted: {listed}, which {'has' if len(missing) == 1 else 'have'} no sample in the hidden data "
            f"(declared {len(declared)} classes)")


def _no_samples(check: MetricCheck, name: str, shown: str) -> CheckResult:
    return failed(check, f"the hidden {shown} data holds no sample of class {name}, so this check cannot be measured; "
                         "this is not a fault of the notebook: ask your instructor to check the lab's hidden split")


@scorer("recall")
def score_recall(check: RecallCheck, inputs: ScoringInputs) -> CheckResult:
    got = _predictions(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, labels = got
    name, shown = check.class_name, inputs.spec.dataset_title(check.dataset)
    _, recall, hits, _, actual = _precision_recall(predicted, labels, _class_index(check, inputs))
    if not actual:
        return _no_samples(check, name, shown)
    measured = f"recall {recall:.3f} on the {name} class ({hits} of {actual} hidden {name} samples predicted {name})"
    return _graded(check, entry, recall, measured, f"the network misses {name} samples: weight the {name} class more "
                   "in the loss (class weights), oversample it, or train longer")


@scorer("precision")
def score_precision(check: PrecisionCheck, inputs: ScoringInputs) -> CheckResult:
    got = _predictions(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, labels = got
    name = check.class_name
    precision, _, hits, claimed, _ = _precision_recall(predicted, labels, _class_index(check, inputs))
    counted = (f"{hits} of the {claimed} hidden samples it predicted {name} are {name}" if claimed else
               f"it predicted {name} for none of the {len(labels)} hidden samples")
    return _graded(check, entry, precision, f"precision {precision:.3f} on the {name} class ({counted})",
                   f"the network predicts {name} for samples of other classes: train longer or weight the other "
                   "classes more in the loss")


@scorer("f1")
def score_f1(check: F1Check, inputs: ScoringInputs) -> CheckResult:
    got = _predictions(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, labels = got
    if check.class_name is not None:
        name = check.class_name
        precision, recall, _, _, actual = _precision_recall(predicted, labels, _class_index(check, inputs))
        if not actual:
            return _no_samples(check, name, inputs.spec.dataset_title(check.dataset))
        value = _f1(precision, recall)
        return _graded(check, entry, value, f"F1 {value:.3f} on the {name} class (precision {precision:.3f}, recall "
                       f"{recall:.3f})", f"raise the weaker of precision and recall: {NEGLECTED}")
    scores = {int(c): _f1(*_precision_recall(predicted, labels, int(c))[:2]) for c in np.unique(labels)}
    value = float(np.mean(list(scores.values())))
    weakest = min(scores, key=lambda c: scores[c])
    measured = (f"macro F1 {value:.3f}, the mean F1 over the {len(scores)} classes of the hidden data (lowest: "
                f"{class_name(inputs.spec, check.dataset, weakest)}, {scores[weakest]:.3f}"
                f"{_absent(check, inputs, labels)})")
    return _graded(check, entry, value, measured, NEGLECTED)


@scorer("balanced_accuracy")
def score_balanced_accuracy(check: BalancedAccuracyCheck, inputs: ScoringInputs) -> CheckResult:
    got = _predictions(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, labels = got
    recalls = {c: hits / count for c, (hits, count) in _recalls(predicted, labels).items()}
    value = float(np.mean(list(recalls.values())))
    weakest = min(recalls, key=lambda c: recalls[c])
    measured = (f"balanced accuracy {value:.3f}, the mean recall over the {len(recalls)} classes of the hidden data "
                f"(lowest: {class_name(inputs.spec, check.dataset, weakest)}, {recalls[weakest]:.3f}"
                f"{_absent(check, inputs, labels)})")
    return _graded(check, entry, value, measured, NEGLECTED)


@scorer("min_class_recall")
def score_min_class_recall(check: MinClassRecallCheck, inputs: ScoringInputs) -> CheckResult:
    got = _predictions(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, predicted, labels = got
    recalls = _recalls(predicted, labels)
    weakest = min(recalls, key=lambda c: (recalls[c][0] / recalls[c][1], c))
    hits, count = recalls[weakest]
    name = class_name(inputs.spec, check.dataset, weakest)
    wrong = predicted[(labels == weakest) & (predicted != weakest)]
    confused = ""
    if len(wrong):
        values, counts = np.unique(wrong, return_counts=True)
        confused = f", mistaken most often for {class_name(inputs.spec, check.dataset, int(values[counts.argmax()]))}"
    measured = (f"a recall of {hits / count:.3f} on its weakest class, {name} ({hits} of {count} hidden {name} "
                f"samples predicted {name}{confused}), the lowest of {len(recalls)} classes"
                f"{_absent(check, inputs, labels)}")
    return _graded(check, entry, hits / count, measured, NEGLECTED)


@scorer("top_k_accuracy")
def score_top_k(check: TopKAccuracyCheck, inputs: ScoringInputs) -> CheckResult:
    got = _predictions(check, inputs)
    if isinstance(got, CheckResult):
        return got
    entry, _, labels = got
    ranked = entry.ranked
    if ranked is None or len(ranked) != len(labels):
        outputs = entry.facts.output_size if entry.facts else None
        why = (f"it has {outputs} output{'s' if outputs != 1 else ''}, and a top-{check.k} check needs one score per "
               "class" if outputs is not None and outputs <= check.k else
               "the grader holds no ranking of its class scores for this run (graded before the lab had this check: "
               "a regrade measures it)")
        return failed(check, f"{subject(entry)} could not be ranked: {why}")
    top = np.asarray([row[:check.k] for row in ranked], dtype=np.int64)
    value = float((top == labels[:, None]).any(axis=1).mean())
    shown = inputs.spec.dataset_title(check.dataset)
    measured = (f"top-{check.k} accuracy {value:.3f} on {len(labels)} hidden {shown} samples (the true class among "
                f"its {check.k} highest scores)")
    return _graded(check, entry, value, measured, "train longer, tune the learning rate, or check the input scaling")
