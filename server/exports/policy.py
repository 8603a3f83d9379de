"""Which submission counts for a student, and what the late penalty takes off, from a lab's `[submission]` table.

`counts = "latest"`: the latest graded submission made before the deadline; a student with only late submissions
gets the latest late one, penalised. `counts = "best"`: the graded submission with the highest score after its
penalty (the earliest of equals). Each started day late (24 h after the deadline, rounded up) takes
`penalty_per_day` of the score, down to nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from grader import LateSubmission
from server.errors import InvalidInput


class DeadlineInvalid(InvalidInput):
    """The lab's `submission.deadline` is not a date-time."""


@dataclass(frozen=True)
class Attempt:
    """A graded submission as the policy sees it."""

    submission_id: int
    submitted_at: datetime  # naive UTC, the database clock
    raw_score: float


@dataclass(frozen=True)
class CountedAttempt:
    attempt: Attempt
    days_late: int
    penalty_fraction: float

    @property
    def score(self) -> float:
        return round(self.attempt.raw_score * (1 - self.penalty_fraction), 4)


def parse_deadline(text: str | None) -> datetime | None:
    """An ISO 8601 deadline as naive UTC; a deadline without a zone is taken as UTC."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise DeadlineInvalid(f"deadline {text!r} is not an ISO 8601 date-time such as 2026-12-01T23:59:00Z") from exc
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def days_late(submitted_at: datetime, deadline: datetime | None) -> int:
    if deadline is None or submitted_at <= deadline:
        return 0
    return math.ceil((submitted_at - deadline).total_seconds() / 86400)


def assess(attempt: Attempt, rules: LateSubmission, deadline: datetime | None) -> CountedAttempt:
    late = days_late(attempt.submitted_at, deadline)
    return CountedAttempt(attempt, late, min(1.0, round(late * rules.penalty_per_day, 6)))


def counted_attempt(attempts: Sequence[Attempt], rules: LateSubmission) -> CountedAttempt | None:
    """The one graded attempt that counts for the gradebook, or None when there is none."""
    if not attempts:
        return None
    deadline = parse_deadline(rules.deadline)
    assessed = sorted((assess(a, rules, deadline) for a in attempts),
                      key=lambda c: (c.attempt.submitted_at, c.attempt.submission_id))
    if rules.counts == "best":
        return max(assessed, key=lambda c: (c.score, -c.attempt.submitted_at.timestamp(), -c.attempt.submission_id))
    on_time = [c for c in assessed if c.days_late == 0]
    return (on_time or assessed)[-1]


@dataclass(frozen=True)
class NewSubmissionEffect:
    """What a new submission made now would do to the counted grade: a warning, or reassurance."""

    warning: bool
    text: str


def new_submission_effect(counted: CountedAttempt | None, rules: LateSubmission, now: datetime,
                          max_score: float) -> NewSubmissionEffect | None:
    """The line the upload form shows for a lab under its `[submission]` rules (None when there is nothing to say)."""
    if counted is None:
        return None
    deadline = parse_deadline(rules.deadline)
    grade = f"{counted.score:g} / {max_score:g}"
    late_now = days_late(now, deadline)
    if rules.counts == "best":
        return NewSubmissionEffect(False, f"Your best submission counts ({grade} now): a new one can only raise "
                                          "your grade.")
    if late_now and counted.days_late == 0:
        return NewSubmissionEffect(False, f"The deadline has passed: your on-time submission keeps counting "
                                          f"({grade}); a new one would not replace it.")
    if counted.score <= 0:
        return None
    penalty = min(1.0, late_now * rules.penalty_per_day)
    late = (f" It would be {late_now} day(s) late, so {penalty * 100:g}% comes off its score."
            if late_now and penalty else "")
    return NewSubmissionEffect(True, f"Your latest submission counts: a new one replaces your counted grade of "
                                     f"{grade}, even if it scores lower.{late}")
