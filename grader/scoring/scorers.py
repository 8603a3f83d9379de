"""The trusted scorer: compares the predictions the clean evaluator computed (an EvaluationResult) with hidden labels.

Each check kind has one scorer, registered with `@scorer(kind)` (grader.scoring.registry): accuracy, the overfitting
gap and early stopping here, the classifier metrics in `grader.scoring.metric_scorers`, a regression lab's in
`grader.scoring.regression_scorers`, the episode checks of an environment in `grader.scoring.episode_scorers`.
Every message says what was measured, against which threshold, and what to do next; none holds hidden data.
"""

from __future__ import annotations

import math

import numpy as np

from grader.data.lab_data import LabData
from grader.evaluation.result import EvaluationResult, HistoryResult, ModelResult
from grader.scoring import episode_scorers, metric_scorers, regression_scorers
from grader.scoring.cause import blocking_error
from grader.scoring.registry import (
    SCORERS,
    ScoringInputs,
    class_name,
    data_missing,
    failed,
    model_found,
    partial_credit,
    result,
    scorer,
    subject,
    verdict,
    why_missing,
)
from grader.scoring.report import CellError, CheckResult, Cutoff
from grader.scoring.student_text import printable
from grader.spec.lab import AccuracyCheck, EarlyStoppingCheck, LabSpec, OverfittingGapCheck
from grader.spec.slots import role_of, slot_architectures, slot_role

__all__ = ["SCORERS", "EvaluationResult", "ScoringInputs", "episode_scorers", "execution_context", "metric_scorers",
           "partial_credit", "regression_scorers", "score_checks", "scorer"]
ARCHITECTURE_NEEDS = {
    "single_dense": "a single-layer network: exactly one dense (Linear/Dense) layer from the inputs to the classes, "
                    "no convolution or recurrent layers",
    "multi_dense": "a fully-connected network: at least two dense (Linear/Dense) layers with a non-linearity such as "
                   "ReLU between them, and no convolution or recurrent layers",
}

Scored = AccuracyCheck | OverfittingGapCheck | EarlyStoppingCheck


def _architecture_problem(entry: ModelResult, architecture: str) -> str:
    facts = entry.facts
    if architecture == "any" or facts is None:
        return ""
    dense = f"{facts.dense_layers} dense layer{'s' if facts.dense_layers != 1 else ''}"
    if facts.conv or facts.recurrent:
        kind = "convolution" if facts.conv else "recurrent"
        has = f"has {kind} layers"
    elif facts.unrecognised_parameters:
        has = (f"computes with {facts.unrecognised_parameters:,} parameters outside its dense layers (raw tensors or "
               "custom layers the grader cannot tell apart from other architectures)")
    elif (facts.dense_layers != 1) if architecture == "single_dense" else (facts.dense_layers < 2):
        has = f"has {dense}"
    elif architecture == "multi_dense" and not facts.nonlinear_between:
        has = f"has {dense} but no non-linearity between them, so it computes what one layer could"
    else:
        return ""
    return f"{entry.source or entry.name} {has}; this check needs {ARCHITECTURE_NEEDS[architecture]}"


def _dense_layers_problem(entry: ModelResult, wanted: int | None) -> str:
    """A check that asks for exactly N dense layers (the own-framework lab's 1-, 2- and 3-layer networks)."""
    facts = entry.facts
    if wanted is None or facts is None or facts.dense_layers == wanted:
        return ""
    return (f"{entry.source or entry.name} has {facts.dense_layers} dense layer{'s' if facts.dense_layers != 1 else ''}"
            f"; this check needs a network of exactly {wanted} dense layer{'s' if wanted != 1 else ''}")


CHANCE_FACTOR = 1.5  # accuracy at most this many times 1/classes counts as untrained


def _chance(spec: LabSpec, dataset: str) -> float:
    """The accuracy of guessing among the declared classes (0 when the lab declares none: never "untrained")."""
    declared = next((d for d in spec.datasets if d.id == dataset), None)
    return 1 / len(declared.classes) if declared is not None and len(declared.classes) >= 2 else 0.0


@scorer("accuracy")
def score_accuracy(check: AccuracyCheck, inputs: ScoringInputs) -> CheckResult:
    """Hidden accuracy with linear partial credit, for a model whose architecture is the one the check asks for."""
    lab, context = inputs.lab, inputs.context
    role = role_of(check.architecture, inputs.spec.dataset_title(check.dataset))
    entry = model_found(check, inputs, lambda e: e.predictions is not None, role)
    if isinstance(entry, CheckResult):
        return entry
    assert entry.predictions is not None
    split = lab.hidden_split(check.dataset)
    predictions = np.asarray(entry.predictions, dtype=np.int64)
    if predictions.shape != split.y.shape:
        return failed(check, f"{subject(entry)} returned {len(predictions)} predictions for {len(split.y)} inputs")
    accuracy = float((predictions == split.y).mean())
    shown = inputs.spec.dataset_title(check.dataset)
    measured = f"{subject(entry)} reached accuracy {accuracy:.3f} on {len(split.y)} hidden {shown} samples"
    problem = _architecture_problem(entry, check.architecture) or _dense_layers_problem(entry, check.dense_layers)
    if problem:
        return result(check, False, 0.0, f"{problem} ({measured}, which counts only for that architecture)",
                       accuracy)
    score = partial_credit(accuracy, check.full_credit_at, check.no_credit_at, check.points)
    passed = accuracy >= check.full_credit_at
    message = (f"{measured} (full credit at {check.full_credit_at:.2f}, none at or below {check.no_credit_at:.2f}): "
               f"{verdict(score, check.points, passed)}")
    if len(set(entry.predictions)) == 1:
        only = class_name(inputs.spec, check.dataset, entry.predictions[0])
        message += (f"; it predicted class {only} for every sample, so it has not learned to tell "
                    "the classes apart: check that labels match inputs, the learning rate and the input scaling")
    elif not passed and context and accuracy <= CHANCE_FACTOR * _chance(inputs.spec, check.dataset):
        # no better than guessing: what kept the notebook from training it, not advice on training
        message += f"; that is no better than chance, as for a network that was never trained ({context})"
    elif not passed:
        message += "; train longer, tune the learning rate, or check the input scaling"
    return result(check, passed, score, message, accuracy)


@scorer("overfitting_gap")
def score_gap(check: OverfittingGapCheck, inputs: ScoringInputs) -> CheckResult:
    """Training accuracy on a visible training sample minus hidden accuracy; smaller is better."""
    output, lab, context = inputs.output, inputs.lab, inputs.context
    missing = data_missing(check, inputs)
    if missing:
        return missing
    entry = output.model(check.model) if output else None
    role = slot_role(inputs.spec, check.model, check.dataset)  # named as its accuracy check names it
    if inputs.spec.dataset(check.dataset).regression:
        return _regression_gap(check, inputs, entry, role)
    if entry is None or not entry.found or entry.predictions is None or entry.train_predictions is None:
        return failed(check, why_missing(check.model, role, entry, context))
    hidden, sample = lab.hidden_split(check.dataset), lab.training_sample(check.dataset)
    predictions, train = np.asarray(entry.predictions), np.asarray(entry.train_predictions)
    if predictions.shape != hidden.y.shape or train.shape != sample.y.shape:
        return failed(check, f"{subject(entry)} returned the wrong number of predictions")
    hidden_accuracy = float((predictions == hidden.y).mean())
    train_accuracy = float((train == sample.y).mean())
    gap = train_accuracy - hidden_accuracy
    if hidden_accuracy < check.min_hidden_accuracy:
        return result(check, False, 0.0, (
            f"{subject(entry)} classified {hidden_accuracy:.3f} of the hidden samples correctly, below the "
            f"{check.min_hidden_accuracy:.2f} a network must reach before its overfitting gap counts (an untrained "
            f"network has no gap: its gap here is {gap:.3f}): no credit; train it until it learns, then keep the "
            "gap small"), gap)
    score = partial_credit(gap, check.full_credit_at, check.no_credit_at, check.points)
    passed = gap <= check.full_credit_at
    message = (f"{subject(entry)} classified {train_accuracy:.3f} of {len(sample.y)} training samples and "
               f"{hidden_accuracy:.3f} of the hidden samples correctly: gap {gap:.3f} (full credit at or below "
               f"{check.full_credit_at:.2f}, none at or above {check.no_credit_at:.2f}): "
               f"{verdict(score, check.points, passed)}")
    if not passed:
        message += ("; the network memorises its training data: stop training at the validation-loss minimum, add "
                    "dropout or weight decay, or use fewer hidden units")
    return result(check, passed, score, message, gap)


def _regression_gap(check: OverfittingGapCheck, inputs: ScoringInputs, entry: ModelResult | None,
                    role: str) -> CheckResult:
    """The gap of a regression model: training R² minus hidden R² (the same thresholds; `min_hidden_accuracy` is
    the hidden R² it must reach first)."""
    if entry is None or not entry.found or entry.outputs is None:
        return failed(check, why_missing(check.model, role, entry, inputs.context))
    hidden, sample = inputs.lab.hidden_split(check.dataset), inputs.lab.training_sample(check.dataset)
    measured = regression_scorers.r2_gap(entry, hidden.y, sample.y)
    if measured is None:
        return failed(check, f"{subject(entry)} returned the wrong number of predictions")
    train_r2, hidden_r2 = measured
    if not (math.isfinite(train_r2) and math.isfinite(hidden_r2)):
        return failed(check, f"{subject(entry)} predicted values that are not finite numbers, so it has no R²: no "
                             "credit; check the training for a diverged loss")
    gap = train_r2 - hidden_r2
    if hidden_r2 < check.min_hidden_accuracy:
        return result(check, False, 0.0, (
            f"{subject(entry)} reached R² {hidden_r2:.3f} on the hidden rows, below the "
            f"{check.min_hidden_accuracy:.2f} a network must reach before its overfitting gap counts (its gap here "
            f"is {gap:.3f}): no credit; train it until it learns, then keep the gap small"), gap)
    score = partial_credit(gap, check.full_credit_at, check.no_credit_at, check.points)
    passed = gap <= check.full_credit_at
    message = (f"{subject(entry)} reached R² {train_r2:.3f} on {len(sample.y)} training rows and {hidden_r2:.3f} on "
               f"the hidden rows: gap {gap:.3f} (full credit at or below {check.full_credit_at:.2f}, none at or above "
               f"{check.no_credit_at:.2f}): {verdict(score, check.points, passed)}")
    if not passed:
        message += ("; the network memorises its training data: stop training at the validation-loss minimum, add "
                    "weight decay, or use fewer hidden units")
    return result(check, passed, score, message, gap)


def finite_curve(values: list[float | None]) -> list[float]:
    """The epochs up to the first non-finite value (a diverged run)."""
    out: list[float] = []
    for value in values:
        if value is None or not math.isfinite(value):
            break
        out.append(value)
    return out


@scorer("early_stopping")
def score_early_stopping(check: EarlyStoppingCheck, inputs: ScoringInputs) -> CheckResult:
    """Epochs trained after the validation-loss minimum must not exceed the patience.

    When the check's model is one the lab evaluates, the history counts only if that network was found, and not when
    the grader's cross-check shows it does not describe that network.
    """
    output, context = inputs.output, inputs.context
    slot = slot_architectures(inputs.spec).get(check.model or "")
    model_role = slot_role(inputs.spec, check.model or "") if slot and inputs.lab.has_dataset(slot[0]) else None
    entry = output.history(check.history) if output else None
    if entry is None or not entry.found:
        why = f"`{check.history}` could not be read: {printable(entry.error, 400)}" if entry and entry.error else (
            f"no per-epoch training history was found: assign `{check.history} = model.fit(..., "
            f"validation_data=...)` (Keras) or a dict {{'loss': [...], 'val_loss': [...]}} filled once per epoch "
            "(PyTorch), so the grader can see where validation loss was lowest")
        return failed(check, f"{why} ({context})" if context else why)
    source = entry.source or f"`{check.history}`"
    model = output.model(check.model) if output and check.model else None
    if check.model and model_role and (model is None or not model.evaluated):
        # a history is what the notebook says about its training: without the trained network it is only numbers
        why = why_missing(check.model, model_role, model, context)
        return failed(check, f"{source} was found, but the network it should record was not: {why}")
    if entry.consistent is False:
        return failed(check, f"{source}: {entry.cross_check}; record the loss of the network you grade, epoch by "
                              "epoch")
    val_loss = finite_curve(entry.val_loss)
    if not val_loss:
        return failed(check, f"{source} holds training loss for {len(entry.loss)} epochs but no validation loss: "
                              "pass validation_data (or validation_split) to fit, or record the loss on held-out data "
                              "after every epoch")
    if len(val_loss) < len(entry.val_loss):
        return failed(check, f"{source}: validation loss stopped being a finite number after epoch "
                              f"{len(val_loss)}: the training diverged; lower the learning rate")
    epochs = len(val_loss)
    best = int(np.argmin(val_loss)) + 1
    after = epochs - best
    if after <= check.patience and inputs.cutoff is not None and inputs.cutoff.interrupted:
        # the grader's own limit ended the training: the history shows where the grader stopped it, not where the
        # notebook would have stopped
        return result(check, False, 0.0, (
            f"{source}: training was still running after epoch {epochs} when the grader's "
            f"{inputs.cutoff.limit} limit interrupted cell {inputs.cutoff.cell_number}, so this history shows where "
            "the limit stopped it, not where early stopping would have; no credit for early stopping in a run the "
            "limit ended"), float(after))
    if after <= check.patience:
        if after == 0:
            message = (f"{source}: validation loss was still falling at the last epoch ({epochs}), so training "
                       "stopped before the network began to overfit")
        else:
            message = (f"{source}: validation loss was lowest at epoch {best} of {epochs}; training stopped "
                       f"{after} epoch{'s' if after != 1 else ''} later, within the patience of {check.patience}: "
                       "early stopping worked")
        return result(check, True, check.points, message, float(after))
    rise = (val_loss[-1] - val_loss[best - 1]) / abs(val_loss[best - 1]) * 100 if val_loss[best - 1] else 0.0
    higher = f"{rise:.0f}% higher" if rise < 1e6 else "far higher"  # 1e308 after 1e-300: no 300-digit percentage
    message = (f"{source}: validation loss was lowest at epoch {best} and {higher} at epoch {epochs}: the "
               f"network overfits after epoch {best} — stop there or restore the best weights (at most "
               f"{check.patience} epochs after the minimum; this run went on for {after})")
    return result(check, False, 0.0, message, float(after))


# raised in the kernel when a loader of another dataset fails (in_kernel/startup_serving.py)
NOT_SERVED = "DatasetNotServed"


def not_served(cell_errors: list[CellError]) -> str:
    """"cell 25 tried to load torchvision.datasets.<Name>, ..." for a notebook that asked for other data."""
    error = next((e for e in cell_errors if e.ename == NOT_SERVED), None)
    if error is None:
        return ""
    dataset = error.evalue.split(" is not served here")[0][:100]
    return (f"cell {error.cell_index + 1} tried to load {dataset}, which the grader cannot download: the sandbox has "
            "no network and only the lab's data is served, so the networks of this lab must be trained on it")


def with_dataset_note(results: list[CheckResult], cell_errors: list[CellError]) -> list[CheckResult]:
    """Checks short of full credit also say that the notebook asked for another dataset (its network, if found, was
    never trained on the lab's data), unless their message says so already."""
    foreign = not_served(cell_errors)
    if not foreign:
        return results
    return [r if r.passed or foreign in r.message else r.model_copy(update={"message": f"{r.message}; {foreign}"})
            for r in results]


def execution_context(cell_errors: list[CellError], note: str) -> str:
    """A student-facing sentence about why the notebook may not have produced its models."""
    foreign = not_served(cell_errors)
    parts = [foreign] if foreign else []
    if note:
        parts.append(note)
    cause = blocking_error([e for e in cell_errors if e.ename != NOT_SERVED])
    if cause is not None:
        parts.append(cause.describe())
    return "; ".join(parts)


def score_checks(spec: LabSpec, output: EvaluationResult | None, lab: LabData, context: str,
                 cutoff: Cutoff | None = None) -> list[CheckResult]:
    """One result per check, in the spec's order, each from its kind's registered scorer."""
    inputs = ScoringInputs(spec=spec, output=output, lab=lab, context=context, cutoff=cutoff)
    return [SCORERS[check.kind](check, inputs) for check in spec.checks]


def history_of(output: HistoryResult) -> dict[str, list[float]]:
    """The finite part of a history, as the report stores it."""
    return {"loss": finite_curve(output.loss), "val_loss": finite_curve(output.val_loss)}
