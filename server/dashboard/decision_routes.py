"""Instructors' decisions from a submission's page: override a check or the total, choose the submission that counts
(instructors), an extension, an excusal (instructors); each needs a comment. A refusal comes back on the same page,
at its top, with the form's message; a success returns to the page with the result at its top."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from server.dashboard.access import DbSession, PageRoute, StaffViewer, checked_form
from server.dashboard.instructor_routes import render_submission
from server.errors import Forbidden, InvalidInput, NotFound
from server.exports import decisions
from server.grades.models import DecisionKind
from server.submissions import service as submissions
from server.users.models import User

router = APIRouter(prefix="/dashboard/submissions/{submission_id}", route_class=PageRoute, include_in_schema=False)

ACTIONS = ("override", "clear-override", "count", "extension", "excuse", "clear")
INSTRUCTORS_ONLY = ("extension", "excuse")


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(form: Any, name: str, what: str) -> float | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} must be a number, not {text[:40]!r}") from exc


@router.post("/{action}")
async def decide(request: Request, submission_id: int, action: str, viewer: StaffViewer,
                 db: DbSession) -> Response:
    form = await checked_form(request, viewer)
    if action not in ACTIONS:
        raise NotFound(f"no action {action!r} on a submission")
    if action in INSTRUCTORS_ONLY and not viewer.is_instructor:
        raise Forbidden("extensions and excusals are for instructors: ask one")
    submission = submissions.visible_submission(db, viewer.user, submission_id)
    student = db.get(User, submission.student_id)
    assert student is not None
    actor, comment = viewer.user.name, _text(form, "comment")
    done = action
    try:
        if action == "override":
            score = _number(form, "score", "the score")
            if score is None:
                raise InvalidInput("give the score to set")
            decisions.override_score(db, submission, _text(form, "check_id") or None, score, comment, actor)
        elif action == "clear-override":
            decisions.clear_override(db, submission, _text(form, "check_id") or None, actor)
            done = "override-cleared"
        elif action == "count":
            decisions.choose_submission(db, submission, comment, actor)
        elif action == "extension":
            percent = _number(form, "penalty_percent", "the penalty per day")
            decisions.grant_extension(db, student.name, submission.lab_id, _text(form, "deadline") or None,
                                      None if percent is None else percent / 100, comment, actor)
        elif action == "excuse":
            decisions.excuse(db, student.name, submission.lab_id, comment, actor)
        else:
            kind = DecisionKind(_text(form, "kind")) if _text(form, "kind") in set(DecisionKind) else None
            if kind is None:
                raise InvalidInput("choose which decision to remove: choose, extension or excuse")
            if kind is not DecisionKind.CHOOSE and not viewer.is_instructor:
                raise Forbidden("extensions and excusals are for instructors: ask one")
            decisions.clear_decision(db, student.name, submission.lab_id, kind, actor)
            done = "cleared"
    except (InvalidInput, NotFound) as exc:
        db.rollback()
        return render_submission(request, viewer, db, submission, exc.status_code, exc.message)
    db.commit()
    return RedirectResponse(f"/dashboard/submissions/{submission_id}?done={done}#action-result", status_code=303)
