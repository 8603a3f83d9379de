"""The registry of check kinds' scorers, and what every scorer shares: the inputs it reads, linear partial credit,
and the sentences for a model that is missing, data that is not installed, and the verdict.

A kind's scorer is registered with `@scorer(kind)` beside its spec model (grader.spec); `grader.scoring.scorers`
imports every module of scorers, so `score_checks` finds them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from grader.data.lab_data import LabData
from grader.evaluation.evaluator import NOT_FROM_LAYERS
from grader.evaluation.result import EvaluationResult, ModelResult
from grader.scoring.report import CheckResult, Cutoff
from grader.scoring.student_text import printable
from grader.spec.check_base import CheckBase
from grader.spec.lab import LabSpec
from grader.spec.slots import slot_role


class SlotCheck(Protocol):
    """A check that evaluates a model slot on a dataset."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def points(self) -> float: ...

    @property
    def model(self) -> str: ...

    @property
    def dataset(self) -> str: ...


@dataclass(frozen=True)
class ScoringInputs:
    """What every scorer may read: the evaluation result, the lab's data (hidden labels), the run's context."""

    spec: LabSpec
    output: EvaluationResult | None
    lab: LabData
    context: str
    cutoff: Cutoff | None = None  # the grader's limit that stopped the run, if one did


Scorer = Callable[[Any, ScoringInputs], CheckResult]
SCORERS: dict[str, Scorer] = {}


def scorer(kind: str) -> Callable[[Scorer], Scorer]:
    """Register the scorer of a check kind (the spec model with that `kind` lives in grader.spec.lab)."""
    def register(function: Scorer) -> Scorer:
        SCORERS[kind] = function
        return function
    return register


def partial_credit(value: float, full_at: float, none_at: float, points: float) -> float:
    """Linear credit between the no-credit and full-credit thresholds (either direction)."""
    fraction = (value - none_at) / (full_at - none_at)
    return round(points * min(1.0, max(0.0, fraction)), 4)


def result(check: CheckBase | SlotCheck, passed: bool, score: float, message: str,
           measured: float | None = None) -> CheckResult:
    return CheckResult(id=check.id, title=check.title, passed=passed, score=score, max_score=check.points,
                       message=message, measured=None if measured is None else round(measured, 4))


def failed(check: CheckBase | SlotCheck, message: str) -> CheckResult:
    return result(check, False, 0.0, message)


def verdict(score: float, points: float, passed: bool) -> str:
    if passed:
        return "full credit"
    return f"partial credit, {score:g} of {points:g} points" if score > 0 else "no credit"


def why_missing(name: str, role: str, entry: ModelResult | None, context: str) -> str:
    if entry is not None and entry.error:
        # the kernel sees no hidden input any more, so no hidden row can be in this text; what the kernel exported
        # is still untrusted: printable, capped
        where = printable(entry.source, 80) if entry.source else f"`{name}`"
        joined = " " if entry.error.startswith(NOT_FROM_LAYERS) else " could not be evaluated: "
        message = f"{where}{joined}{printable(entry.error, 400)}"
    else:
        message = (f"no trained model named `{name}` was found after the notebook ran, and no {role} turned up among "
                   f"its variables; train the network and assign it to `{name}`")
    return f"{message} ({context})" if context else message


def data_missing(check: SlotCheck, inputs: ScoringInputs) -> CheckResult | None:
    """A check whose data this grader lacks fails with a message that blames the installation, not the student."""
    if inputs.lab.has_dataset(check.dataset):
        return None
    shown = inputs.spec.dataset_title(check.dataset)
    declared = next((d for d in inputs.spec.datasets if d.id == check.dataset), None)
    how = f" ({declared.install_command(inputs.spec.id)})" if declared is not None else ""
    return failed(check, f"the {shown} data is not installed on this grader, so this check was not measured; this is "
                          f"not a fault of the notebook: ask your instructor to install it{how} and regrade")


def model_found(check: SlotCheck, inputs: ScoringInputs, has: Callable[[ModelResult], bool],
                role: str | None = None) -> ModelResult | CheckResult:
    """The check's model entry, found and holding what `has` asks of it (predictions, outputs, episodes); else the
    failed result that says why not: the installation's missing data, or the notebook's missing model, named by its
    `role` (default: the slot's, as its accuracy check names it)."""
    missing = data_missing(check, inputs)
    if missing:
        return missing
    entry = inputs.output.model(check.model) if inputs.output else None
    if entry is None or not entry.found or not has(entry):
        role = role if role is not None else slot_role(inputs.spec, check.model, check.dataset)
        return failed(check, why_missing(check.model, role, entry, inputs.context))
    return entry


def subject(entry: ModelResult) -> str:
    source = entry.source or f"`{entry.name}`"
    how = entry.preprocessing_words or ""
    return f"{source} ({how})" if how else source




def class_name(spec: LabSpec, dataset: str, index: int) -> str:
    """A class as reports name it: its declared name, or "class N" when the dataset declares no names."""
    declared = spec.dataset(dataset).classes if any(d.id == dataset for d in spec.datasets) else ()
    return declared[index] if 0 <= index < len(declared) else f"class {index}"
