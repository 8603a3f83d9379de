"""Jinja2 with autoescaping, and the security headers every page and download carries."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from server.dashboard.notebook_view import capped_text
from server.jobs.models import Artifact, ArtifactKind
from server.submissions import service as submissions
from server.users.models import User

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Scripts only from our own static file, images from us or data: (PNG/JPEG checked by the notebook view), no frames.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
environment.filters.update(plain=lambda v: capped_text(str(v)), when=_when, score=_score, percent=_percent,
                           seconds=_seconds)


def secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered template with the security headers."""
    html = environment.get_template(name).render(**context)
    response = HTMLResponse(html, status_code=status_code)
    secured(response)
    return response


def notebook_download(submission_id: int, artifact: Artifact) -> Response:
    """The executed notebook as an attachment: the browser saves it, never renders it."""
    return secured(Response(artifact.content, media_type="application/x-ipynb+json", headers={
        "Content-Disposition": f'attachment; filename="submission-{submission_id}-executed.ipynb"'}))


def artifact_response(session: Session, user: User, submission_id: int, kind: ArtifactKind) -> Response:
    """A submission's executed notebook or learning curve, for whoever may see the submission."""
    submission = submissions.visible_submission(session, user, submission_id)
    found = submissions.artifact(session, submission, kind)
    if kind is ArtifactKind.EXECUTED_NOTEBOOK:
        return notebook_download(submission.id, found)
    return secured(Response(found.content, media_type=found.content_type))
