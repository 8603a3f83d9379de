"""Instructors' decisions in the policy: overrides, extensions, chosen submissions, excusals (pure, no database)."""

from __future__ import annotations

from datetime import datetime

from grader.spec.lab import LateSubmission
from server.exports.policy import Attempt, StudentTerms, decide, new_submission_effect

RULES = LateSubmission(deadline="2026-12-01T23:59:00Z", penalty_per_day=0.1, counts="latest")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


ON_TIME = Attempt(1, at("2026-11-30T10:00:00"), 100)
STARTER = Attempt(2, at("2026-12-01T20:00:00"), 0)
LATE = Attempt(3, at("2026-12-03T12:00:00"), 90)  # 2 days late


def test_without_decisions_the_latest_on_time_submission_counts() -> None:
    outcome = decide([ON_TIME, STARTER, LATE], RULES)
    assert outcome.counted is not None
    assert (outcome.counted.attempt.submission_id, outcome.counted.score, outcome.reason) == (2, 0.0, "")
    assert (outcome.assessed[3].score, outcome.assessed[3].reason) == (72.0, "2 day(s) late, 20% off")


def test_a_chosen_submission_counts_whatever_the_rule_picks_and_says_who_chose_it() -> None:
    terms = StudentTerms(chosen_submission_id=1, chosen_note="submission 1 counts, chosen by prof: starter by mistake")
    outcome = decide([ON_TIME, STARTER, LATE], RULES, terms)
    assert outcome.counted is not None
    assert (outcome.counted.attempt.submission_id, outcome.counted.score) == (1, 100.0)
    assert outcome.reason == "submission 1 counts, chosen by prof: starter by mistake"


def test_a_chosen_late_submission_keeps_its_penalty() -> None:
    terms = StudentTerms(chosen_submission_id=3, chosen_note="chosen")
    outcome = decide([ON_TIME, STARTER, LATE], RULES, terms)
    assert outcome.counted is not None
    assert (outcome.counted.score, outcome.reason) == (72.0, "chosen; 2 day(s) late, 20% off")


def test_an_extension_moves_the_deadline_and_the_late_submission_counts_in_full() -> None:
    terms = StudentTerms(deadline=at("2026-12-04T23:59:00"), extension_note="extension by prof: ill")
    outcome = decide([ON_TIME, STARTER, LATE], RULES, terms)
    assert outcome.counted is not None
    assert (outcome.counted.attempt.submission_id, outcome.counted.score, outcome.counted.days_late) == (3, 90.0, 0)
    assert outcome.reason == "extension by prof: ill"


def test_an_extension_can_waive_or_change_the_penalty_without_moving_the_deadline() -> None:
    waived = decide([LATE], RULES, StudentTerms(penalty_per_day=0.0, extension_note="waived"))
    halved = decide([LATE], RULES, StudentTerms(penalty_per_day=0.05, extension_note="halved"))
    assert waived.counted is not None and halved.counted is not None
    assert (waived.counted.score, waived.counted.days_late, waived.reason) == (90.0, 2, "waived")
    assert (halved.counted.score, halved.reason) == (81.0, "2 day(s) late, 10% off; halved")


def test_an_override_replaces_the_graded_score_and_the_late_penalty_still_applies() -> None:
    overridden = Attempt(3, LATE.submitted_at, 90, 95.555, "submission 3's score set to 95.56 by prof: misread")
    outcome = decide([overridden], RULES)
    assert outcome.counted is not None
    assert outcome.counted.score == 76.44  # 95.555 * 0.8 = 76.444, two decimals
    assert outcome.reason == "submission 3's score set to 95.56 by prof: misread; 2 day(s) late, 20% off"


def test_an_excused_student_has_no_counted_score_and_the_reason_says_so() -> None:
    outcome = decide([ON_TIME], RULES, StudentTerms(excused=True, excuse_note="excused by prof: medical"))
    assert (outcome.counted, outcome.excused, outcome.reason) == (None, True, "excused by prof: medical")
    assert outcome.assessed[1].score == 100.0


def test_the_upload_form_follows_the_students_own_deadline_and_a_chosen_submission() -> None:
    after = at("2026-12-03T12:00:00")
    counted = decide([ON_TIME, STARTER], RULES).counted
    extended = StudentTerms(deadline=at("2026-12-05T00:00:00"))
    effect = new_submission_effect(counted, RULES, after, 100, extended)
    assert effect is None  # the counted starter scored 0 and the student's deadline has not passed
    chosen = decide([ON_TIME, STARTER], RULES, StudentTerms(chosen_submission_id=1)).counted
    effect = new_submission_effect(chosen, RULES, after, 100, StudentTerms(chosen_submission_id=1))
    assert effect is not None
    assert (effect.warning, effect.text) == (False, "Your instructor chose the submission that counts (100 / 100): "
                                                    "a new one does not replace it.")


def test_a_first_upload_after_the_deadline_is_warned_of_its_penalty_and_an_extension_lifts_it() -> None:
    after = at("2026-12-03T12:00:00")
    effect = new_submission_effect(None, RULES, after, 100)
    assert effect is not None
    assert (effect.warning, effect.text) == (True, "The deadline has passed: a submission now is 2 day(s) late, so "
                                                   "20% comes off its score.")
    assert new_submission_effect(None, RULES, after, 100, StudentTerms(deadline=at("2026-12-05T00:00:00"))) is None
    assert new_submission_effect(None, RULES, at("2026-11-30T12:00:00"), 100) is None


def test_the_counted_fields_are_built_once_for_every_shape() -> None:
    """counted_fields: what the API's submissions and grades, `grade --json`, the pages and the CSV carry."""
    from server.exports.policy import counted_fields

    late = decide([LATE], RULES).counted
    assert counted_fields(late).as_dict() == {"counted_score": 72.0, "reason": "2 day(s) late, 20% off",
                                              "days_late": 2, "penalty": 20.0, "excused": False}
    assert counted_fields(late, True, "excused by prof: ill").as_dict() == {
        "counted_score": None, "reason": "excused by prof: ill", "days_late": 2, "penalty": 20.0, "excused": True}
    assert counted_fields(None).as_dict() == {"counted_score": None, "reason": "", "days_late": 0, "penalty": 0.0,
                                              "excused": False}
