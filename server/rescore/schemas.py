"""The JSON shape of `POST /api/v1/labs/{lab_id}/rescore`."""

from __future__ import annotations

from pydantic import BaseModel

from server.rescore.service import RescoreSummary


class NotRescoredOut(BaseModel):
    reason: str
    submission_ids: list[int]


class RescoreOut(BaseModel):
    lab_id: str
    rescored: int
    changed: int
    pending: int
    not_rescored: list[NotRescoredOut]
    seconds: float
    regrade: str | None  # the route that runs the notebooks again, when some submissions could not be rescored

    @classmethod
    def from_summary(cls, summary: RescoreSummary) -> RescoreOut:
        return cls(lab_id=summary.lab_id, rescored=summary.rescored, changed=summary.changed, pending=summary.pending,
                   not_rescored=[NotRescoredOut(reason=r, submission_ids=ids)
                                 for r, ids in sorted(summary.not_rescored.items())],
                   seconds=summary.seconds,
                   regrade=f"POST /api/v1/labs/{summary.lab_id}/regrade" if summary.not_rescored else None)
