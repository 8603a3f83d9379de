"""Jinja2 with autoescaping, and the security headers every page and download carries."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from server.dashboard.notebook_view import capped_text
from server.jobs.models import Artifact, ArtifactKind
from server.jobs.stored_artifacts import artifact_content
from server.scores import format_score
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
    return format_score(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _file_size(size_bytes: int) -> str:
    """A file's size as people read it: 812 bytes, 4.2 KB, 1.5 MB."""
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes / (1024 * 1024):.1f} MB"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def duration(value: float | None) -> str:
    """Seconds as a person says them: "40 s", "3 min", "1 h 5 min", "2 days 3 h"."""
    if value is None:
        return "-"
    seconds = max(0, round(value))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def _iso_utc(value: datetime | None) -> str:
    return "" if value is None else value.replace(microsecond=0).isoformat() + "Z"


def local_time(value: datetime | None) -> Markup:
    """A `<time>` the page script rewrites into the viewer's local time; UTC text until then (and without JS)."""
    if value is None:
        return Markup("-")
    return Markup('<time datetime="{}" data-local>{}</time>').format(_iso_utc(value), _when(value))


# grader-written check messages name cells ("cell 8 raised ...") and quote code in backticks
_CELL_REF = re.compile(r"\b([Cc]ell) (\d{1,4})\b")
_BACKTICKS = re.compile(r"`([^`\n]{1,300})`")


def message_html(text: str) -> Markup:
    """A check message, escaped, with `code` in code formatting and "cell N" linked to that cell on the page."""
    escaped = str(escape(text))
    linked = _CELL_REF.sub(lambda m: f'<a href="#cell-{int(m.group(2))}">{m.group(1)} {int(m.group(2))}</a>',
                           escaped)
    return Markup(_BACKTICKS.sub(r"<code>\1</code>", linked))  # noqa: S704 - built from escaped text


def score_band(score: float | None, max_score: float | None) -> str:
    """The badge colour of a score: full marks, most, some, none (a graded 0 is never green)."""
    if score is None or not max_score:
        return "none"
    share = score / max_score
    return "full" if share >= 0.999 else "high" if share >= 0.7 else "mid" if share >= 0.4 else "low"


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
environment.filters.update(plain=lambda v: capped_text(str(v)), when=_when, score=_score, percent=_percent,
                           seconds=_seconds, duration=duration, local_time=local_time, message=message_html,
                           iso=_iso_utc, filesize=_file_size)
environment.globals.update(score_band=score_band)


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
    return secured(Response(artifact_content(artifact), media_type="application/x-ipynb+json", headers={
        "Content-Disposition": f'attachment; filename="submission-{submission_id}-executed.ipynb"'}))


def artifact_response(session: Session, user: User, submission_id: int, kind: ArtifactKind) -> Response:
    """A submission's executed notebook or learning curve, for whoever may see the submission."""
    submission = submissions.visible_submission(session, user, submission_id)
    found = submissions.artifact(session, submission, kind)
    if kind is ArtifactKind.EXECUTED_NOTEBOOK:
        return notebook_download(submission.id, found)
    return secured(Response(artifact_content(found), media_type=found.content_type))
