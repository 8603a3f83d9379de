"""Grade passback (Assignment and Grade Services) and roster sync (Names and Role Provisioning Services) with a real
platform: a counted score reaches the LMS's grade column, an LMS outage is retried until it is over (nothing lost,
visible to instructors), a changed score is sent again; the roster brings students who never launched."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from server.db import make_engine, make_session_factory, transaction
from tests.conftest import LiveServer, until
from tests.server.dashboard.seed import graded_submission
from tests.server.lti.platform import INSTRUCTOR, LEARNER, LaunchRequest, LtiPlatformServer

Pair = tuple[LiveServer, LtiPlatformServer]
MAX_SCORE = discover_labs(LABS_DIR)["frameworks"].max_score


def _ledger(server: LiveServer, token: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/api/v1/lti/passbacks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return list(response.json())


def _grade(server: LiveServer, student: str, check_scores: list[float], minutes: int) -> None:
    engine = make_engine(server.env["LABGRADER_DATABASE_URL"])
    try:
        with transaction(make_session_factory(engine)) as session:
            graded_submission(session, student, datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=minutes),
                              check_scores)
    finally:
        engine.dispose()


def test_counted_scores_reach_the_lms_through_an_outage_and_again_when_they_change(lti_pair: Pair) -> None:
    server, platform = lti_pair
    instructor = server.add_user("passback-teacher", "instructor")
    with httpx.Client(timeout=30) as browser:
        action, fields = platform.launch_form(browser, LaunchRequest(
            "lms-user-77", [LEARNER], email="grace@uni.example", custom={"lab": "frameworks"}))
        assert browser.post(action, data=fields).status_code == 303
    mine = [row for row in _ledger(server, instructor) if row["student"] == "grace@uni.example"]
    assert [(r["lab_id"], r["resource_link_id"], r["status"], r["score"]) for r in mine] == [
        ("frameworks", "link-1", "no_score", None)]

    def graces() -> list[dict[str, object]]:  # the package's platform also holds other modules' scores
        return [score for score in platform.scores if score["userId"] == "lms-user-77"]

    platform.refuse_scores = True  # the LMS is down when the first score is ready
    try:
        _grade(server, "grace@uni.example", [1.0, 2.0, 0.0, 0.0, 0.0], minutes=30)
        failing = until("two failed sends", lambda: [r for r in _ledger(server, instructor)
                                                      if r["student"] == "grace@uni.example" and r["attempts"] >= 2])
        assert failing[0]["status"] == "pending" and failing[0]["score"] == 3.0
        assert failing[0]["last_error"] == (f"{platform.issuer}/lineitems/1/lineitem/scores?type=lab answered 503: "
                                            '{"error":"maintenance"}')
        assert graces() == []
    finally:
        platform.refuse_scores = False
    until("the score in the LMS", graces)
    assert len(graces()) == 1
    posted = graces()[0]
    assert {k: posted[k] for k in ("userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress")} \
        == {"userId": "lms-user-77", "scoreGiven": 3.0, "scoreMaximum": MAX_SCORE,
            "activityProgress": "Completed", "gradingProgress": "FullyGraded"}
    sent = until("the ledger says sent", lambda: [r for r in _ledger(server, instructor)
                                                   if r["student"] == "grace@uni.example" and r["status"] == "sent"])
    assert sent[0]["last_error"] == "" and sent[0]["attempts"] >= 3 and sent[0]["next_attempt_at"] is None
    listed = json.loads(server.cli("lti", "passbacks", "--json").stdout)
    assert [(r["score"], r["status"]) for r in listed if r["student"] == "grace@uni.example"] == [(3.0, "sent")]

    _grade(server, "grace@uni.example", [1.0, 2.0, 3.0, 0.0, 0.0], minutes=10)  # a better, later submission counts
    until("the new score in the LMS", lambda: len(graces()) == 2)
    assert graces()[1]["scoreGiven"] == 6.0
    time.sleep(1.5)  # several rounds of the worker: an unchanged score is not sent again
    assert len(graces()) == 2


def test_students_cannot_read_the_ledger(lti_pair: Pair) -> None:
    server, _ = lti_pair
    student = server.add_user("passback-student", "student")
    response = httpx.get(f"{server.url}/api/v1/lti/passbacks", headers={"Authorization": f"Bearer {student}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "this needs an instructor's token"}


def test_the_roster_sync_brings_students_who_never_launched_and_their_scores_go_back(lti_pair: Pair) -> None:
    server, platform = lti_pair
    instructor = server.add_user("roster-teacher", "instructor")
    platform.members = [
        {"status": "Active", "user_id": "lms-user-88", "email": "linus@uni.example", "roles": [LEARNER]},
        {"status": "Inactive", "user_id": "lms-user-89", "email": "gone@uni.example", "roles": [LEARNER]},
        {"status": "Active", "user_id": "lms-user-90", "email": "visitor@uni.example",
         "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]},
    ]
    with httpx.Client(timeout=30) as browser:  # an instructor's launch asks for a fresh roster
        action, fields = platform.launch_form(browser, LaunchRequest(
            "lms-teacher-1", [INSTRUCTOR], email="turing@uni.example", custom={"lab": "frameworks"}))
        assert browser.post(action, data=fields).status_code == 303
    synced = until("the roster sync", lambda: [r for r in _ledger(server, instructor)
                                                if r["student"] == "linus@uni.example"])
    assert [(r["lab_id"], r["status"]) for r in synced] == [("frameworks", "no_score")]
    students = {r["student"] for r in _ledger(server, instructor)}
    assert "gone@uni.example" not in students and "visitor@uni.example" not in students
    assert "turing@uni.example" not in students  # instructors get no grade rows

    before = len(platform.scores)
    _grade(server, "linus@uni.example", [2.0, 0.0, 0.0, 0.0, 0.0], minutes=5)
    until("linus's score in the LMS", lambda: len(platform.scores) > before)
    assert [(s["userId"], s["scoreGiven"]) for s in platform.scores[before:]] == [("lms-user-88", 2.0)]
