"""The counted score: which submission counts for a student, what lateness takes off, and what instructors decided.

This is the one place a counted score is computed; the API, the CLI, the pages and every export read it.

`counts = "latest"`: the latest graded submission made before the deadline; a student with only late submissions
gets the latest late one, penalised. `counts = "best"`: the graded submission with the highest score after its
penalty (the earliest of equals). Each started day late (24 h after the deadline, rounded up) takes
`penalty_per_day` of the score, down to nothing.

Instructors' decisions (`server.grades`) apply on top, in this order: a score override (of a check or of the whole
submission) replaces what the grader gave; an extension replaces the deadline and/or the penalty per day for one
student; a chosen submission counts whatever the rule would pick; an excused student has no counted score. The late
penalty applies to the overridden score unless an extension waives it. Every score is rounded by `round_score`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from grader import LateSubmission
from server.errors import InvalidInput
from server.scores import format_score, round_score


class DeadlineInvalid(InvalidInput):
    """The lab's `submission.deadline` is not a date-time."""


@dataclass(frozen=True)
class Attempt:
    """A graded submission as the policy sees it."""

    submission_id: int
    submitted_at: datetime  # naive UTC, the database clock
    raw_score: float  # what the grader gave
    adjusted_score: float | None = None  # after an instructor's overrides; None: there are none
    override_note: str = ""  # who overrode what, and why

    @property
    def base_score(self) -> float:
        return self.raw_score if self.adjusted_score is None else self.adjusted_score


@dataclass(frozen=True)
class StudentTerms:
    """One student's own terms for one lab, from instructors' decisions (`server.grades`)."""

    deadline: datetime | None = None  # an extension's deadline (naive UTC)
    penalty_per_day: float | None = None  # an extension's penalty; 0 waives it
    extension_note: str = ""
    chosen_submission_id: int | None = None
    chosen_note: str = ""
    excused: bool = False
    excuse_note: str = ""


NO_TERMS = StudentTerms()


@dataclass(frozen=True)
class CountedAttempt:
    attempt: Attempt
    days_late: int
    penalty_fraction: float
    reason: str = ""  # why the counted score differs from the raw one (override, lateness, extension, choice)

    @property
    def score(self) -> float:
        return round_score(self.attempt.base_score * (1 - self.penalty_fraction))


@dataclass(frozen=True)
class Outcome:
    """What counts for one student in one lab, with every graded attempt assessed."""

    counted: CountedAttempt | None
    assessed: dict[int, CountedAttempt] = field(default_factory=dict)
    excused: bool = False
    reason: str = ""  # of the counted score, or why there is none (excused)


@dataclass(frozen=True)
class CountedFields:
    """The counted-score fields every shape carries (API, pages, exports): one builder, one meaning."""

    counted_score: float | None  # null: not graded, or excused
    reason: str  # why it differs from the grader's score (override, lateness, extension, choice); or the excusal
    days_late: int
    penalty: float  # percent taken off for lateness, 2 decimals
    excused: bool

    def as_dict(self) -> dict[str, Any]:
        return {"counted_score": self.counted_score, "reason": self.reason, "days_late": self.days_late,
                "penalty": self.penalty, "excused": self.excused}


def counted_fields(attempt: CountedAttempt | None, excused: bool = False, excuse_note: str = "") -> CountedFields:
    """The fields of one assessed attempt (None: not graded); an excused student has no counted score and the
    excusal is the reason."""
    if attempt is None:
        return CountedFields(None, excuse_note if excused else "", 0, 0.0, excused)
    return CountedFields(None if excused else attempt.score, excuse_note if excused else attempt.reason,
                         attempt.days_late, round_score(attempt.penalty_fraction * 100), excused)


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


def effective_deadline(rules: LateSubmission, terms: StudentTerms = NO_TERMS) -> datetime | None:
    """The student's deadline: their extension's, else the lab's."""
    return terms.deadline or parse_deadline(rules.deadline)


def penalty_per_day(rules: LateSubmission, terms: StudentTerms = NO_TERMS) -> float:
    return rules.penalty_per_day if terms.penalty_per_day is None else terms.penalty_per_day


def assess(attempt: Attempt, rules: LateSubmission, deadline: datetime | None,
           terms: StudentTerms = NO_TERMS) -> CountedAttempt:
    late = days_late(attempt.submitted_at, deadline)
    fraction = min(1.0, round(late * penalty_per_day(rules, terms), 6))
    parts = [attempt.override_note] if attempt.override_note else []
    if late and fraction:
        parts.append(f"{late} day(s) late, {format_score(fraction * 100)}% off")
    if terms.extension_note:
        parts.append(terms.extension_note)
    return CountedAttempt(attempt, late, fraction, "; ".join(parts))


def decide(attempts: Sequence[Attempt], rules: LateSubmission, terms: StudentTerms = NO_TERMS) -> Outcome:
    """The one graded attempt that counts for the gradebook (None when there is none or the student is excused)."""
    deadline = effective_deadline(rules, terms)
    assessed = {a.submission_id: assess(a, rules, deadline, terms) for a in attempts}
    if terms.excused:
        return Outcome(None, assessed, True, terms.excuse_note)
    ordered = sorted(assessed.values(), key=lambda c: (c.attempt.submitted_at, c.attempt.submission_id))
    counted: CountedAttempt | None
    if terms.chosen_submission_id in assessed:
        chosen = assessed[terms.chosen_submission_id]  # type: ignore[index]
        counted = replace(chosen, reason="; ".join(p for p in (terms.chosen_note, chosen.reason) if p))
        assessed[chosen.attempt.submission_id] = counted
    elif not ordered:
        counted = None
    elif rules.counts == "best":
        counted = max(ordered, key=lambda c: (c.score, -c.attempt.submitted_at.timestamp(), -c.attempt.submission_id))
    else:
        counted = ([c for c in ordered if c.days_late == 0] or ordered)[-1]
    return Outcome(counted, assessed, False, counted.reason if counted else "")


def counted_attempt(attempts: Sequence[Attempt], rules: LateSubmission,
                    terms: StudentTerms = NO_TERMS) -> CountedAttempt | None:
    """The one graded attempt that counts for the gradebook, or None when there is none."""
    return decide(attempts, rules, terms).counted


@dataclass(frozen=True)
class NewSubmissionEffect:
    """What a new submission made now would do to the counted grade: a warning, or reassurance."""

    warning: bool
    text: str


def new_submission_effect(counted: CountedAttempt | None, rules: LateSubmission, now: datetime,
                          max_score: float, terms: StudentTerms = NO_TERMS) -> NewSubmissionEffect | None:
    """The line the upload form shows for a lab under its `[submission]` rules (None when there is nothing to say)."""
    late_now = days_late(now, effective_deadline(rules, terms))
    if counted is None:
        penalty = min(1.0, late_now * penalty_per_day(rules, terms))
        if late_now and penalty:
            return NewSubmissionEffect(True, f"The deadline has passed: a submission now is {late_now} day(s) late, "
                                             f"so {format_score(penalty * 100)}% comes off its score.")
        return None
    grade = f"{format_score(counted.score)} / {format_score(max_score)}"
    if terms.chosen_submission_id is not None:
        return NewSubmissionEffect(False, f"Your instructor chose the submission that counts ({grade}): a new one "
                                          "does not replace it.")
    if rules.counts == "best":
        return NewSubmissionEffect(False, f"Your best submission counts ({grade} now): a new one can only raise "
                                          "your grade.")
    if late_now and counted.days_late == 0:
        return NewSubmissionEffect(False, f"The deadline has passed: your on-time submission keeps counting "
                                          f"({grade}); a new one would not replace it.")
    if counted.score <= 0:
        return None
    penalty = min(1.0, late_now * penalty_per_day(rules, terms))
    late = (f" It would be {late_now} day(s) late, so {format_score(penalty * 100)}% comes off its score."
            if late_now and penalty else "")
    return NewSubmissionEffect(True, f"Your latest submission counts: a new one replaces your counted grade of "
                                     f"{grade}, even if it scores lower.{late}")
