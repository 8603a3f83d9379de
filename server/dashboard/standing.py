"""The rules where students look: per lab, the deadline, which submission counts, and what a new one would do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from grader import LabSpec
from server.db import db_now
from server.exports.gradebook import Standing, student_standing
from server.exports.policy import NewSubmissionEffect, effective_deadline, new_submission_effect, penalty_per_day


@dataclass(frozen=True)
class LabStanding:
    spec: LabSpec
    standing: Standing
    deadline: datetime | None
    now: datetime
    effect: NewSubmissionEffect | None

    @property
    def seconds_left(self) -> float | None:
        return None if self.deadline is None else (self.deadline - self.now).total_seconds()

    @property
    def details_hidden(self) -> bool:
        """The lab shows its checks' thresholds only after the student's deadline, which has not passed."""
        left = self.seconds_left
        return self.spec.submission.check_details == "after_deadline" and left is not None and left > 0

    @property
    def rule(self) -> str:
        return ("your latest submission made before the deadline counts" if self.spec.submission.counts == "latest"
                else "your best submission (after late penalties) counts")

    @property
    def penalty_text(self) -> str:
        per_day = penalty_per_day(self.spec.submission, self.standing.terms)
        if self.deadline is None:
            return "no deadline"
        return f"{per_day * 100:g}% off per started day late" if per_day else "no late penalty"


def lab_standings(session: Session, specs: list[LabSpec], student_id: int) -> list[LabStanding]:
    """Every lab with this student's counted submission and the effect of a new submission now."""
    now = db_now(session)
    out = []
    for spec in specs:
        standing = student_standing(session, spec, student_id)
        out.append(LabStanding(spec, standing, effective_deadline(spec.submission, standing.terms), now,
                               new_submission_effect(standing.counted, spec.submission, now, spec.max_score,
                                                     standing.terms)))
    return out


def lab_standing(session: Session, spec: LabSpec, student_id: int) -> LabStanding:
    return lab_standings(session, [spec], student_id)[0]
