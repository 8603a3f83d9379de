"""Check kinds that measure a classifier beyond accuracy: recall and precision of one class, F1 (of one class or the
macro mean), balanced accuracy, top-k accuracy and a floor on every class's recall (the confusion matrix's weakest
row). Each reads the predictions the evaluator computed from the exported network on the hidden inputs; each gives
linear partial credit between `no_credit_at` and `full_credit_at` (higher is better), as accuracy does.

A class is named by its declared name (`class = "malignant"`), never by its number.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from grader.spec.check_base import CheckBase, Identifier


class _ClassifierMetric(CheckBase):
    """A score between 0 and 1 of one model slot's hidden predictions; higher is better."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    model: Identifier
    dataset: Identifier
    full_credit_at: float = Field(ge=0, le=1)
    no_credit_at: float = Field(ge=0, le=1)

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at}

    def model_slot(self) -> tuple[str, str, str] | None:
        return (self.model, self.dataset, "any")

    def measures(self) -> Literal["classes", "target", "either"]:
        return "classes"

    @model_validator(mode="after")
    def _ordered(self) -> _ClassifierMetric:
        if self.no_credit_at >= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be below full_credit_at")
        return self


class _OneClassMetric(_ClassifierMetric):
    class_name: str = Field(alias="class", min_length=1, max_length=200)

    def thresholds(self) -> dict[str, Any]:
        return {"class": self.class_name, **super().thresholds()}

    def named_classes(self) -> tuple[str, ...]:
        return (self.class_name,)


class RecallCheck(_OneClassMetric):
    """Of the hidden samples of `class`, the share the model predicts as `class` (sensitivity)."""

    kind: Literal["recall"]


class PrecisionCheck(_OneClassMetric):
    """Of the hidden samples the model predicts as `class`, the share that are `class`."""

    kind: Literal["precision"]


class F1Check(_ClassifierMetric):
    """F1 of `class` (`average = "binary"`), or the mean F1 over the classes of the hidden data (`"macro"`)."""

    kind: Literal["f1"]
    average: Literal["binary", "macro"] = "binary"
    class_name: str | None = Field(default=None, alias="class", min_length=1, max_length=200)

    def thresholds(self) -> dict[str, Any]:
        named = {"class": self.class_name} if self.class_name else {}
        return {"average": self.average, **named, **super().thresholds()}

    def named_classes(self) -> tuple[str, ...]:
        return (self.class_name,) if self.class_name else ()

    @model_validator(mode="after")
    def _class_when_binary(self) -> F1Check:
        if (self.average == "binary") != (self.class_name is not None):
            raise ValueError(f"check {self.id}: average = \"binary\" names its positive class (class = \"...\"), "
                             "and only it does (\"macro\" averages over every class)")
        return self


class BalancedAccuracyCheck(_ClassifierMetric):
    """The mean of the per-class recalls over the classes of the hidden data."""

    kind: Literal["balanced_accuracy"]


class TopKAccuracyCheck(_ClassifierMetric):
    """The share of hidden samples whose class is among the model's `k` highest scores."""

    kind: Literal["top_k_accuracy"]
    k: int = Field(ge=2, le=20)

    def thresholds(self) -> dict[str, Any]:
        return {"k": self.k, **super().thresholds()}

    def top_k(self) -> int | None:
        return self.k


class MinClassRecallCheck(_ClassifierMetric):
    """The lowest recall of any class of the hidden data (the confusion matrix's weakest row): no class below it."""

    kind: Literal["min_class_recall"]


MetricCheck = (RecallCheck | PrecisionCheck | F1Check | BalancedAccuracyCheck | TopKAccuracyCheck
               | MinClassRecallCheck)
