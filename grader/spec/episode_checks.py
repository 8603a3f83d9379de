"""Check kinds that measure a policy on an environment's hidden episodes: the mean return and the share of episodes
that succeed. Each reads the episodes the evaluator rolled out (grader.evaluation.rollout) with the exported policy
network on the hidden seeds of an environment dataset, and gives linear partial credit between `no_credit_at` and
`full_credit_at` (higher is better), as accuracy does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from grader.spec.check_base import CheckBase, Identifier


class _EpisodeMetric(CheckBase):
    """A number measured over the hidden episodes of one model slot's policy; higher is better."""

    model: Identifier
    dataset: Identifier  # an environment dataset (`source.gymnasium`)

    def model_slot(self) -> tuple[str, str, str] | None:
        return (self.model, self.dataset, "any")

    def reads_episodes(self) -> bool:
        return True


class MeanReturnCheck(_EpisodeMetric):
    """The mean return (sum of rewards) of the greedy policy over the hidden episodes."""

    kind: Literal["mean_return"]
    full_credit_at: float = Field(ge=-1e9, le=1e9)
    no_credit_at: float = Field(ge=-1e9, le=1e9)

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at}

    @model_validator(mode="after")
    def _ordered(self) -> MeanReturnCheck:
        if self.no_credit_at >= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be below full_credit_at")
        return self


class SuccessRateCheck(_EpisodeMetric):
    """The share of hidden episodes that succeed (the dataset's `episodes.success`: reached the goal by default)."""

    kind: Literal["success_rate"]
    full_credit_at: float = Field(ge=0, le=1)
    no_credit_at: float = Field(ge=0, le=1)

    def thresholds(self) -> dict[str, Any]:
        return {"full_credit_at": self.full_credit_at, "no_credit_at": self.no_credit_at}

    @model_validator(mode="after")
    def _ordered(self) -> SuccessRateCheck:
        if self.no_credit_at >= self.full_credit_at:
            raise ValueError(f"check {self.id}: no_credit_at must be below full_credit_at")
        return self


EpisodeCheck = MeanReturnCheck | SuccessRateCheck
