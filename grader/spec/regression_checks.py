"""Check kinds of a regression lab: mean squared error, mean absolute error and R² of one model slot's predictions
on the hidden rows of a regression dataset (one with a `target` instead of classes). The evaluator computes the
predictions from the exported network: a network with one output, whose output is the prediction in the target's own
units. Each gives linear partial credit between `no_credit_at` and `full_credit_at`: for mse and mae lower is better
(full credit at or below `full_credit_at`), for r2 higher is better.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from grader.spec.check_base import CheckBase, Identifier


class _RegressionMetric(CheckBase):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    model: Identifier
    dataset: Identifier

    def model_slot(self) -> tuple[str, str, str] | None:
        return (self.model, self.dataset, "any")

    def measures(self) -> Literal["classes", "target", "either"]:
        return "target"


class _ErrorMetric(_RegressionMetric):
    """An error in the target's units (squared for mse); lower is better."""

    full_credit_at: float = Field(ge=0, description="full credit at or below this error")
    no_credit_at: float = Field(gt=0, description="no credit at or above this error")

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at}

    @model_validator(mode="after")
    def _ordered(self) -> _ErrorMetric:
        if self.full_credit_at >= self.no_credit_at:
            raise ValueError(f"check {self.id}: an error is better when lower, so full_credit_at "
                             f"({self.full_credit_at:g}) must be below no_credit_at ({self.no_credit_at:g})")
        return self


class MseCheck(_ErrorMetric):
    """Mean squared error of the predictions on the hidden rows, in the target's units squared; lower is better."""

    kind: Literal["mse"]


class MaeCheck(_ErrorMetric):
    """Mean absolute error of the predictions on the hidden rows, in the target's units; lower is better."""

    kind: Literal["mae"]


class R2Check(_RegressionMetric):
    """R² (1 - squared error / the hidden targets' variance): 1 is perfect, 0 is predicting the hidden mean."""

    kind: Literal["r2"]
    full_credit_at: float = Field(ge=-1000, le=1)
    no_credit_at: float = Field(ge=-1000, le=1)

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at}

    @model_validator(mode="after")
    def _ordered(self) -> R2Check:
        if self.no_credit_at >= self.full_credit_at:
            raise ValueError(f"check {self.id}: R² is better when higher, so no_credit_at ({self.no_credit_at:g}) "
                             f"must be below full_credit_at ({self.full_credit_at:g})")
        return self


RegressionCheck = MseCheck | MaeCheck | R2Check
