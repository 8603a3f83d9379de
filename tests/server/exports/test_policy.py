"""Which submission counts and what lateness costs, from a lab's deadline, penalty and counting rule."""

from __future__ import annotations

from datetime import datetime

import pytest

from grader.spec.lab import LateSubmission
from server.exports.policy import (
    Attempt,
    CountedAttempt,
    DeadlineInvalid,
    NewSubmissionEffect,
    counted_attempt,
    days_late,
    new_submission_effect,
    parse_deadline,
)

DEADLINE = "2026-12-01T23:59:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_deadlines_are_read_as_utc() -> None:
    assert parse_deadline("2026-12-02T00:59:00+01:00") == at("2026-12-01T23:59:00")
    assert parse_deadline("2026-12-01T23:59:00") == at("2026-12-01T23:59:00")
    assert parse_deadline(None) is None
    assert parse_deadline("  ") is None


def test_a_deadline_that_is_not_a_date_says_what_is_expected() -> None:
    with pytest.raises(DeadlineInvalid) as caught:
        parse_deadline("next friday")
    assert caught.value.message == ("deadline 'next friday' is not an ISO 8601 date-time such as "
                                    "2026-12-01T23:59:00Z")


@pytest.mark.parametrize(("submitted", "expected"), [
    ("2026-12-01T23:59:00", 0), ("2026-12-01T23:59:01", 1), ("2026-12-02T23:59:00", 1), ("2026-12-02T23:59:01", 2),
])
def test_each_started_day_after_the_deadline_counts(submitted: str, expected: int) -> None:
    assert days_late(at(submitted), parse_deadline(DEADLINE)) == expected


def test_latest_counts_the_last_on_time_submission_even_if_a_late_one_is_better() -> None:
    rules = LateSubmission(deadline=DEADLINE, penalty_per_day=0.1, counts="latest")
    attempts = [Attempt(1, at("2026-11-30T10:00:00"), 80), Attempt(2, at("2026-12-01T20:00:00"), 60),
                Attempt(3, at("2026-12-02T10:00:00"), 100)]
    counted = counted_attempt(attempts, rules)
    assert counted is not None
    assert (counted.attempt.submission_id, counted.days_late, counted.score) == (2, 0, 60)


def test_latest_with_only_late_submissions_takes_the_last_one_penalised() -> None:
    rules = LateSubmission(deadline=DEADLINE, penalty_per_day=0.1, counts="latest")
    attempts = [Attempt(7, at("2026-12-02T10:00:00"), 90), Attempt(8, at("2026-12-04T10:00:00"), 100)]
    counted = counted_attempt(attempts, rules)
    assert counted is not None
    assert (counted.attempt.submission_id, counted.days_late, counted.penalty_fraction, counted.score) == (
        8, 3, 0.3, 70)


def test_best_compares_scores_after_the_penalty() -> None:
    rules = LateSubmission(deadline=DEADLINE, penalty_per_day=0.25, counts="best")
    attempts = [Attempt(1, at("2026-12-01T10:00:00"), 70), Attempt(2, at("2026-12-02T10:00:00"), 90),
                Attempt(3, at("2026-12-03T10:00:00"), 100)]
    counted = counted_attempt(attempts, rules)
    assert counted is not None
    assert (counted.attempt.submission_id, counted.score) == (1, 70)


def test_penalty_never_takes_more_than_the_whole_score() -> None:
    rules = LateSubmission(deadline=DEADLINE, penalty_per_day=0.5, counts="latest")
    counted = counted_attempt([Attempt(1, at("2026-12-09T10:00:00"), 100)], rules)
    assert counted is not None
    assert (counted.days_late, counted.penalty_fraction, counted.score) == (8, 1.0, 0)


def test_without_a_deadline_latest_is_simply_the_last_and_nothing_is_late() -> None:
    counted = counted_attempt([Attempt(1, at("2026-12-09T10:00:00"), 50), Attempt(2, at("2026-12-10T10:00:00"), 40)],
                              LateSubmission())
    assert counted is not None
    assert (counted.attempt.submission_id, counted.days_late, counted.score) == (2, 0, 40)
    assert counted_attempt([], LateSubmission()) is None


def _counted(score: float, late: int = 0) -> CountedAttempt:
    return CountedAttempt(Attempt(1, at("2026-11-30T10:00:00"), score), late, 0.0)


def test_a_new_submission_under_latest_warns_that_it_replaces_the_counted_grade() -> None:
    rules = LateSubmission(deadline=DEADLINE, penalty_per_day=0.1)
    effect = new_submission_effect(_counted(100), rules, at("2026-11-30T12:00:00"), 100)
    assert effect == NewSubmissionEffect(True, "Your latest submission counts: a new one replaces your counted "
                                               "grade of 100 / 100, even if it scores lower.")
    assert new_submission_effect(_counted(0), rules, at("2026-11-30T12:00:00"), 100) is None
    assert new_submission_effect(None, rules, at("2026-11-30T12:00:00"), 100) is None


def test_after_the_deadline_an_on_time_grade_is_safe_and_a_late_one_is_replaced_with_the_penalty_named() -> None:
    rules = LateSubmission(deadline=DEADLINE, penalty_per_day=0.1)
    after = at("2026-12-03T12:00:00")
    assert new_submission_effect(_counted(80), rules, after, 100) == NewSubmissionEffect(
        False, "The deadline has passed: your on-time submission keeps counting (80 / 100); a new one would not "
               "replace it.")
    assert new_submission_effect(_counted(60, late=1), rules, after, 100) == NewSubmissionEffect(
        True, "Your latest submission counts: a new one replaces your counted grade of 60 / 100, even if it scores "
              "lower. It would be 2 day(s) late, so 20% comes off its score.")


def test_under_best_a_new_submission_can_only_raise_the_grade() -> None:
    rules = LateSubmission(deadline=DEADLINE, counts="best")
    assert new_submission_effect(_counted(70), rules, at("2026-11-30T12:00:00"), 100) == NewSubmissionEffect(
        False, "Your best submission counts (70 / 100 now): a new one can only raise your grade.")
