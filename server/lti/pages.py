"""Instructors' LMS pages: register a platform (the same checks as `labgrader lti add-platform`) with the tool's
values to paste into Canvas and Moodle, and the grade passback ledger with a "retry now" per pending row."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from server.dashboard.access import DbSession, InstructorViewer, PageRoute, checked_form
from server.dashboard.rendering import page
from server.dependencies import get_settings
from server.errors import DomainError
from server.lti import passback, service
from server.lti.keys import ToolKeys

router = APIRouter(prefix="/dashboard/lti", route_class=PageRoute, include_in_schema=False)
FIELDS = ("issuer", "client_id", "deployment_ids", "keyset_url", "auth_url", "token_url")
MAX_FIELD_CHARS = 2000


def tool_values(request: Request) -> dict[str, str]:
    """What the LMS administrator pastes into the LMS, on this server's own address."""
    base = str(request.base_url).rstrip("/")
    return {"login": f"{base}/lti/login", "launch": f"{base}/lti/launch", "jwks": f"{base}/lti/jwks.json",
            "domain": request.url.netloc}


def _platforms_page(request: Request, viewer: InstructorViewer, db: DbSession, status_code: int = 200,
                    problem: str = "", done: str = "", entered: dict[str, str] | None = None) -> Response:
    return page("lti_platforms.html", status_code, viewer=viewer, platforms=service.list_platforms(db),
                tool=tool_values(request), problem=problem, done=done,
                entered=entered or dict.fromkeys(FIELDS, ""))


@router.get("/platforms")
def platforms_page(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    return _platforms_page(request, viewer, db)


@router.post("/platforms")
async def add_platform(request: Request, viewer: InstructorViewer, db: DbSession) -> Response:
    """Register one LMS client with one or more deployment ids; on a refusal the form comes back as it was sent."""
    form = await checked_form(request, viewer)
    entered = {name: str(form.get(name) or "")[:MAX_FIELD_CHARS] for name in FIELDS}
    deployments = [d for d in re.split(r"[\s,]+", entered["deployment_ids"]) if d]
    try:
        added = service.register_deployments(
            db, issuer=entered["issuer"].strip(), client_id=entered["client_id"].strip(), deployment_ids=deployments,
            keyset_url=entered["keyset_url"].strip(), auth_url=entered["auth_url"].strip(),
            token_url=entered["token_url"].strip())
    except DomainError as exc:
        db.rollback()
        return _platforms_page(request, viewer, db, exc.status_code, problem=exc.message, entered=entered)
    db.commit()
    ToolKeys.for_data_dir(get_settings(request).data_dir).ensure()
    ids = ", ".join(str(p.id) for p in added)
    return _platforms_page(request, viewer, db, 201,
                           done=f"Registered {entered['issuer'].strip()} ({len(added)} deployment(s), id {ids}).")


def _ledger_rows(db: DbSession) -> list[dict[str, object]]:
    rows = passback.list_passbacks(db)
    for row in rows:
        for key in ("next_attempt_at", "sent_at"):
            value = row[key]
            row[key] = datetime.fromisoformat(value) if isinstance(value, str) else None
    return rows


@router.get("/passbacks")
def passbacks_page(viewer: InstructorViewer, db: DbSession, done: str = "") -> Response:
    return page("lti_passbacks.html", viewer=viewer, rows=_ledger_rows(db),
                done="The passback is due now: the next round sends it." if done == "retry" else "")


@router.post("/passbacks/{passback_id}/retry")
async def retry_passback(request: Request, passback_id: int, viewer: InstructorViewer, db: DbSession) -> Response:
    await checked_form(request, viewer)
    passback.retry_now(db, passback_id)
    return RedirectResponse("/dashboard/lti/passbacks?done=retry", status_code=303)
