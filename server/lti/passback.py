"""Assignment and Grade Services: each student's counted score goes to the LMS grade column of the link they launched.

The ledger is `lti_grade_passbacks`, one row per (link, student). `reconcile` compares every row with the gradebook
(`build_gradebook`: the counted score after the lab's policy, the same number as every export) and marks a changed
score `pending`; `send_due` posts pending rows whose time has come and, when the LMS does not take one, keeps it
pending with the error and a later time (exponential backoff, capped): nothing is dropped, and only the latest score
of a student is ever sent. `server.lti.worker.PassbackWorker` runs both in `serve`, every
`LABGRADER_LTI_PASSBACK_INTERVAL_S`.

    PassbackFailed   the LMS refused or could not be reached: the row says why and when it is tried again
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import db_now
from server.errors import Conflict, NotFound
from server.exports.gradebook import build_gradebook
from server.lti.keys import ToolKeys
from server.lti.models import LtiGradePassback, LtiPlatform, LtiResourceLink, PassbackStatus
from server.lti.schemas import SCORE_SCOPE, VerifiedLaunch
from server.users.models import Role, User

log = logging.getLogger("labgrader.lti")
MAX_BACKOFF_S = 3600.0
SEND_BATCH = 50
HTTP_TIMEOUT_S = 10.0
MAX_ERROR_CHARS = 300


class PassbackFailed(Exception):
    pass


def record_placement(session: Session, launch: VerifiedLaunch, user: User) -> None:
    """Remember the link a launch came from (its lab, grade column, roster) and, for a student, their row in it."""
    if launch.lab_id is None or launch.resource_link_id is None:
        return
    link = session.scalar(select(LtiResourceLink).where(LtiResourceLink.platform_id == launch.platform_id,
                                                        LtiResourceLink.resource_link_id == launch.resource_link_id))
    now = db_now(session)
    if link is None:
        link = LtiResourceLink(platform_id=launch.platform_id, resource_link_id=launch.resource_link_id,
                               lab_id=launch.lab_id)
        session.add(link)
    link.lab_id, link.lineitem_url, link.memberships_url = launch.lab_id, launch.lineitem_url, launch.memberships_url
    link.updated_at = now
    if user.role == Role.INSTRUCTOR:
        link.roster_synced_at = None  # an instructor's launch asks for a fresh roster at the next round
    session.flush()
    if user.role == Role.STUDENT:
        ensure_row(session, link, user.id, launch.subject, now)
    session.commit()


def ensure_row(session: Session, link: LtiResourceLink, user_id: int, subject: str, now: datetime) -> None:
    exists = session.scalar(select(LtiGradePassback.id).where(LtiGradePassback.link_id == link.id,
                                                              LtiGradePassback.user_id == user_id))
    if exists is None:
        session.add(LtiGradePassback(link_id=link.id, user_id=user_id, subject=subject, score_given=None,
                                     score_maximum=0.0, status=PassbackStatus.NO_SCORE, attempts=0,
                                     next_attempt_at=now, last_error=""))


def reconcile(session: Session) -> int:
    """Mark `pending` every row whose student's counted score differs from the one the LMS has; how many."""
    changed = 0
    now = db_now(session)
    links = list(session.scalars(select(LtiResourceLink).where(LtiResourceLink.lineitem_url.is_not(None))))
    for lab_id in sorted({link.lab_id for link in links}):
        try:
            book = build_gradebook(session, lab_id)
        except Exception as exc:  # a lab removed from the server: its links wait, the others go on
            log.warning("grade passback: no gradebook for lab %s: %s", lab_id, exc)
            continue
        scores = {row.student_id: row.score for row in book.rows if row.score is not None}
        for link in (link for link in links if link.lab_id == lab_id):
            rows = session.scalars(select(LtiGradePassback).where(LtiGradePassback.link_id == link.id))
            for row in rows:
                score = scores.get(row.user_id)
                if score is None or (row.score_given is not None and abs(row.score_given - score) < 1e-9
                                     and row.score_maximum == book.spec.max_score):
                    continue
                row.score_given, row.score_maximum = float(score), float(book.spec.max_score)
                row.status, row.attempts, row.next_attempt_at, row.last_error = PassbackStatus.PENDING, 0, now, ""
                changed += 1
    session.flush()
    return changed


def scores_url(lineitem_url: str) -> str:
    """`{lineitem}/scores`, keeping the line item URL's query (Canvas and Moodle put parameters there)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


@dataclass
class AgsClient:
    """Access tokens (client-credentials grant with a JWT signed by the tool's key) and score posts."""

    keys: ToolKeys
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        self._tokens: dict[tuple[int, str], tuple[float, str]] = {}

    def token(self, platform: LtiPlatform, scope: str) -> str:
        cached = self._tokens.get((platform.id, scope))
        if cached and cached[0] > time.time() + 30:
            return cached[1]
        key = self.keys.signing_key()
        now = int(time.time())
        assertion = jwt.encode({"iss": platform.client_id, "sub": platform.client_id, "aud": platform.token_url,
                                "iat": now, "exp": now + 300, "jti": secrets.token_urlsafe(16)},
                               key.private_pem, algorithm="RS256", headers={"kid": key.kid})
        body = self._call("POST", platform.token_url, data={
            "grant_type": "client_credentials", "scope": scope, "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        try:
            token, expires_in = str(body["access_token"]), float(str(body.get("expires_in", 3600)))
        except (KeyError, TypeError, ValueError) as exc:
            raise PassbackFailed(f"the LMS's token endpoint answered without an access_token: {body!r:.200}") from exc
        self._tokens[(platform.id, scope)] = (time.time() + expires_in, token)
        return token

    def _call(self, method: str, url: str, **kwargs: object) -> dict[str, object]:
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT_S, transport=self.transport) as client:
                response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise PassbackFailed(f"{url} could not be reached ({type(exc).__name__})") from exc
        if response.status_code >= 300:
            raise PassbackFailed(f"{url} answered {response.status_code}: {response.text[:200]}")
        if not response.content:
            return {}
        try:
            parsed = response.json()
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def get_json(self, url: str, token: str, media_type: str) -> dict[str, object]:
        return self._call("GET", url, headers={"Authorization": f"Bearer {token}", "Accept": media_type})

    def post_score(self, platform: LtiPlatform, lineitem_url: str, row: LtiGradePassback) -> None:
        token = self.token(platform, SCORE_SCOPE)
        self._call("POST", scores_url(lineitem_url), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/vnd.ims.lis.v1.score+json"}, json={
            "userId": row.subject, "scoreGiven": row.score_given, "scoreMaximum": row.score_maximum,
            "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "timestamp": datetime.now().astimezone().isoformat()})


def send_due(session: Session, client: AgsClient, backoff_s: float) -> int:
    """Post the pending rows whose time has come; how many the LMS took."""
    now = db_now(session)
    due = list(session.scalars(select(LtiGradePassback).where(
        LtiGradePassback.status == PassbackStatus.PENDING, LtiGradePassback.next_attempt_at <= now)
        .order_by(LtiGradePassback.next_attempt_at).limit(SEND_BATCH)))
    sent = 0
    for row in due:
        link = session.get(LtiResourceLink, row.link_id)
        platform = session.get(LtiPlatform, link.platform_id) if link else None
        row.attempts += 1
        try:
            if link is None or platform is None or not link.lineitem_url:
                raise PassbackFailed("the link has no grade column (the LMS sent no line item)")
            client.post_score(platform, link.lineitem_url, row)
        except PassbackFailed as exc:
            row.last_error = str(exc)[:MAX_ERROR_CHARS]
            row.next_attempt_at = now + timedelta(seconds=min(MAX_BACKOFF_S, backoff_s * 2 ** (row.attempts - 1)))
            log.warning("grade passback of user %s to link %s failed (attempt %s): %s", row.user_id, row.link_id,
                        row.attempts, exc)
        else:
            row.status, row.sent_at, row.last_error = PassbackStatus.SENT, db_now(session), ""
            sent += 1
        session.commit()
    return sent


def list_passbacks(session: Session) -> list[dict[str, object]]:
    """The ledger as instructors see it: one entry per (link, student)."""
    rows = session.execute(
        select(LtiGradePassback, LtiResourceLink, User)
        .join(LtiResourceLink, LtiGradePassback.link_id == LtiResourceLink.id)
        .join(User, LtiGradePassback.user_id == User.id).order_by(LtiResourceLink.lab_id, User.name))
    return [{"id": row.id, "lab_id": link.lab_id, "student": user.name, "resource_link_id": link.resource_link_id,
             "score": row.score_given, "max_score": row.score_maximum, "status": row.status,
             "attempts": row.attempts, "last_error": row.last_error,
             "next_attempt_at": row.next_attempt_at.isoformat() if row.status == PassbackStatus.PENDING else None,
             "sent_at": row.sent_at.isoformat() if row.sent_at else None} for row, link, user in rows]


def retry_now(session: Session, passback_id: int) -> LtiGradePassback:
    """An instructor's "retry now": a pending row is due at once (its backoff skipped); a sent one stays sent."""
    row = session.get(LtiGradePassback, passback_id)
    if row is None:
        raise NotFound(f"no grade passback {passback_id}")
    if row.status != PassbackStatus.PENDING:
        raise Conflict("only a pending passback is retried: this one was sent, or its student has no counted score yet")
    row.next_attempt_at = db_now(session)
    session.commit()
    return row
