"""The JSON shapes of `GET /api/v1/labs`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from grader import LabSpec


class LabCheckOut(BaseModel):
    """A check as the lab declares it: its kind, points and thresholds."""

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
    checks: list[LabCheckOut]
    thresholds_hidden: bool = False  # the lab shows thresholds after the caller's deadline (`check_details`)

    @classmethod
    def from_spec(cls, spec: LabSpec, hide_thresholds: bool = False) -> LabOut:
        checks = [LabCheckOut(id=check.id, title=check.title, kind=check.kind, points=check.points,
                              thresholds={} if hide_thresholds else check.thresholds()) for check in spec.checks]
        return cls(id=spec.id, title=spec.title, summary=spec.summary, needs_gpu=spec.needs_gpu,
                   max_score=spec.max_score, checks=checks, thresholds_hidden=hide_thresholds)
