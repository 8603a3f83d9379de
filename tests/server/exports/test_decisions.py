"""Instructors' decisions on a real SQLite database: audited, applied to the gradebook and every export, carried
through a regrade written by the ledger, and followed by counted scores when a deadline changes (no rescore)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from grader.spec.lab import LateSubmission
from server.db import SessionFactory, transaction
from server.errors import InvalidInput, NotFound
from server.exports import decisions
from server.exports.formats import ExportFormat, render_export
from server.exports.gradebook import build_gradebook
from server.grades.models import DecisionKind
from server.jobs import ledger
from server.jobs.models import JobQueue
from server.submissions.models import Submission
from server.submissions.service import regrade, to_out
from server.users.models import AuditEvent
from tests.server.dashboard.seed import graded_submission, migrated_factory, set_submission_rules, user_id

FULL = [20, 20, 30, 15, 15]
RULES = LateSubmission(deadline="2026-12-01T23:59:00Z", penalty_per_day=0.1, counts="latest")


@pytest.fixture
def factory(tmp_path: Path) -> SessionFactory:
    factory = migrated_factory(tmp_path / "course.db")
    with transaction(factory) as session:
        set_submission_rules(session, RULES)
        user_id(session, "prof", "instructor")
        graded_submission(session, "ada", datetime(2026, 11, 30, 9), FULL)  # 1: 100, on time
        graded_submission(session, "ada", datetime(2026, 12, 1, 20), [0, 0, 0, 0, 0])  # 2: the starter, counts
        graded_submission(session, "bob", datetime(2026, 12, 3, 12), FULL)  # 3: 2 days late, 80
        graded_submission(session, "cy", datetime(2026, 11, 30, 9), [20, 20, 30, 15, 0])  # 4: 85
    return factory


def _rows(factory: SessionFactory) -> dict[str, dict[str, str]]:
    with transaction(factory) as session:
        body, _, _ = render_export(build_gradebook(session, "frameworks"), ExportFormat.CSV)
    return {r["student"]: r for r in csv.DictReader(io.StringIO(body))}


def _export(factory: SessionFactory, fmt: ExportFormat) -> str:
    with transaction(factory) as session:
        return render_export(build_gradebook(session, "frameworks"), fmt)[0]


def test_choosing_a_submission_makes_it_count_in_every_export_and_the_api(factory: SessionFactory) -> None:
    assert _rows(factory)["ada"]["score"] == "0"
    with transaction(factory) as session:
        first = session.get(Submission, 1)
        assert first is not None
        decisions.choose_submission(session, first, "  the starter was uploaded by mistake ", "prof")
    ada = _rows(factory)["ada"]
    assert (ada["submission_id"], ada["score"], ada["reason"]) == (
        "1", "100", "submission 1 counts, chosen by prof: the starter was uploaded by mistake")
    canvas = list(csv.reader(io.StringIO(_export(factory, ExportFormat.CANVAS))))
    assert ["ada", "", "", "ada", "", "100"] in canvas
    with transaction(factory) as session:
        outs = [to_out(session, s) for s in session.scalars(select(Submission).where(Submission.id.in_([1, 2])))]
        audit = session.scalars(select(AuditEvent)).all()
    assert [(o.id, o.counts, o.counted_score) for o in outs] == [(1, True, 100.0), (2, False, 0.0)]
    assert [(d.kind, d.by, d.comment) for d in outs[0].decisions] == [
        ("choose", "prof", "the starter was uploaded by mistake")]
    assert [(a.actor, a.action, a.target, a.detail) for a in audit] == [
        ("prof", "choose", "ada/frameworks",
         "submission 1 counts, chosen by prof: the starter was uploaded by mistake")]


def test_a_check_override_changes_the_total_survives_a_regrade_and_shows_everywhere(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        cy = session.get(Submission, 4)
        assert cy is not None
        decisions.override_score(session, cy, "early_stopping", 12.5, "history stopped at the minimum by hand", "prof")
    row = _rows(factory)["cy"]
    assert (row["raw_score"], row["score"], row["early_stopping"]) == ("85", "97.5", "12.5")
    assert row["reason"] == "check early_stopping set to 12.5 by prof: history stopped at the minimum by hand"
    # a regrade through the ledger: new check rows for the submission; the override is still applied on top
    with transaction(factory) as session:
        cy = session.get(Submission, 4)
        assert cy is not None
        regrade(session, [cy], JobQueue.REGRADE)
        job_id = cy.current_job_id
    assert job_id is not None
    claim = ledger.claim_job(factory, job_id, "test-worker", 60)
    assert claim is not None
    again = [("iris_accuracy", 20, 20), ("mnist_single_layer_accuracy", 20, 20), ("mnist_multi_layer_accuracy", 25, 30),
             ("overfitting_gap", 15, 15), ("early_stopping", 0, 15)]
    checks: list[dict[str, object]] = [{"check_id": c, "title": c, "passed": False, "score": s, "max_score": m,
                                        "message": "again", "measured": None} for c, s, m in again]
    assert ledger.complete(factory, claim, ledger.GradedResult(80, 100, "", "{}", checks, {}))
    row = _rows(factory)["cy"]
    assert (row["raw_score"], row["score"], row["early_stopping"], row["mnist_multi_layer_accuracy"]) == (
        "80", "92.5", "12.5", "25")
    gradescope = json.loads(_export(factory, ExportFormat.GRADESCOPE))
    cy_out = next(s for s in gradescope["students"] if s["student"] == "cy")["results"]
    assert cy_out["score"] == 92.5
    assert cy_out["output"] == ("Submission 4, scored 80/100. Counted 92.5/100: check early_stopping set to 12.5 by "
                                "prof: history stopped at the minimum by hand.")
    assert cy_out["tests"][4]["score"] == 12.5
    with transaction(factory) as session:
        out = to_out(session, session.get(Submission, 4))  # type: ignore[arg-type]
    assert (out.score, out.counted_score, out.reason) == (80.0, 92.5, row["reason"])
    assert (out.checks[4].score, out.checks[4].counted_score, out.checks[4].override) == (
        0.0, 12.5, "check early_stopping set to 12.5 by prof: history stopped at the minimum by hand")


def test_a_whole_submission_override_replaces_the_score_and_lateness_still_applies(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        bob = session.get(Submission, 3)
        assert bob is not None
        decisions.override_score(session, bob, None, 90, "graded by hand", "prof")
    bob_row = _rows(factory)["bob"]
    assert (bob_row["raw_score"], bob_row["score"], bob_row["days_late"]) == ("100", "72", "2")
    assert bob_row["reason"] == "submission 3's score set to 90 by prof: graded by hand; 2 day(s) late, 20% off"
    with transaction(factory) as session:
        bob = session.get(Submission, 3)
        assert bob is not None
        decisions.clear_override(session, bob, None, "prof")
    assert _rows(factory)["bob"]["score"] == "80"


def test_an_extension_and_a_deadline_change_apply_without_a_rescore(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        decisions.grant_extension(session, "bob", "frameworks", "2026-12-04T00:00:00Z", None, "flu, note seen", "prof")
    bob = _rows(factory)["bob"]
    assert (bob["days_late"], bob["score"], bob["reason"]) == (
        "0", "100", "extension (deadline 2026-12-04 00:00 UTC) by prof: flu, note seen")
    with transaction(factory) as session:
        decisions.clear_decision(session, "bob", "frameworks", DecisionKind.EXTENSION, "prof")
        set_submission_rules(session, LateSubmission(deadline="2026-12-02T23:59:00Z", penalty_per_day=0.1))
    assert (_rows(factory)["bob"]["days_late"], _rows(factory)["bob"]["score"]) == ("1", "90")


def test_an_excused_student_is_excused_in_every_export(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        decisions.excuse(session, "cy", "frameworks", "joined the course after this lab", "prof")
    cy = _rows(factory)["cy"]
    assert (cy["score"], cy["submission_id"], cy["reason"]) == (
        "", "", "excused by prof: joined the course after this lab")
    assert ["cy", "", "", "cy", "", "EX"] in list(csv.reader(io.StringIO(_export(factory, ExportFormat.CANVAS))))
    gradescope = json.loads(_export(factory, ExportFormat.GRADESCOPE))
    assert gradescope["excused"] == [{"student": "cy", "reason": "excused by prof: joined the course after this lab"}]
    assert "cy" not in [s["student"] for s in gradescope["students"]]


@pytest.mark.parametrize(("check_id", "score", "comment", "message"), [
    ("no_such_check", 1, "x", "lab 'frameworks' has no check 'no_such_check'; its checks are iris_accuracy, "
                              "mnist_single_layer_accuracy, mnist_multi_layer_accuracy, overfitting_gap, "
                              "early_stopping"),
    ("iris_accuracy", 21, "x", "the score of check iris_accuracy must be between 0 and 20, not 21"),
    (None, -1, "x", "the score of submission 4 must be between 0 and 100, not -1"),
    ("iris_accuracy", 10, " \n ", "a comment is required: say why, the student reads it beside their grade"),
])
def test_an_override_that_makes_no_sense_is_refused_with_a_reason(factory: SessionFactory, check_id: str | None,
                                                                  score: float, comment: str, message: str) -> None:
    with transaction(factory) as session:
        cy = session.get(Submission, 4)
        assert cy is not None
        with pytest.raises(InvalidInput) as caught:
            decisions.override_score(session, cy, check_id, score, comment, "prof")
    assert caught.value.message == message


def test_extensions_that_say_nothing_or_name_nobody_are_refused(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        with pytest.raises(InvalidInput) as empty:
            decisions.grant_extension(session, "bob", "frameworks", None, None, "why", "prof")
        with pytest.raises(InvalidInput) as penalty:
            decisions.grant_extension(session, "bob", "frameworks", None, 1.5, "why", "prof")
        with pytest.raises(NotFound) as nobody:
            decisions.excuse(session, "zed", "frameworks", "why", "prof")
        with pytest.raises(NotFound) as nothing:
            decisions.clear_decision(session, "bob", "frameworks", DecisionKind.EXCUSE, "prof")
    assert empty.value.message == "an extension needs a deadline, a penalty per day (0 waives it), or both"
    assert penalty.value.message == "the penalty per day is a fraction between 0 and 1 (0.1 is 10%), not 1.5"
    assert nobody.value.message == "no user named 'zed'"
    assert nothing.value.message == "bob has no excuse decision for lab 'frameworks'"
