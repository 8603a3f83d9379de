"""The JSON shapes of `GET /api/v1/labs`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from grader import AccuracyCheck, EarlyStoppingCheck, LabSpec, OverfittingGapCheck


class CheckOut(BaseModel):
    id: str
    title: str
    kind: str
    points: float
    thresholds: dict[str, Any]


class LabOut(BaseModel):
    id: str
    title: str
    summary: str
    needs_gpu: bool
    max_score: float
    checks: list[CheckOut]

    @classmethod
    def from_spec(cls, spec: LabSpec) -> LabOut:
        checks = []
        for check in spec.checks:
            thresholds: dict[str, Any]
            if isinstance(check, AccuracyCheck | OverfittingGapCheck):
                thresholds = {"full_credit_at": check.full_credit_at, "no_credit_at": check.no_credit_at}
            elif isinstance(check, EarlyStoppingCheck):
                thresholds = {"patience": check.patience}
            checks.append(CheckOut(id=check.id, title=check.title, kind=check.kind, points=check.points,
                                   thresholds=thresholds))
        return cls(id=spec.id, title=spec.title, summary=spec.summary, needs_gpu=spec.needs_gpu,
                   max_score=spec.max_score, checks=checks)
