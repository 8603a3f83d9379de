"""The server-side record of page sessions: started at login, checked at every page, ended at logout.

The signed cookie (server.dashboard.sessions) says who a session claims to be; this table says whether it is still
open. A session is open when its row exists, has no `ended_at`, was seen less than the idle timeout ago
(`LABGRADER_SESSION_IDLE_MINUTES`) and started less than the cookie's lifetime ago. Rows are found by the SHA-256
digest of the session id and the digests compared again in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from server.db import db_now
from server.users.models import PageSessionRecord, User

TOUCH_EVERY_S = 60  # last_seen_at is written at most once a minute per session (a quarter of a shorter idle timeout)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def record_session(db: Session, user: User, session_id: str, lifetime_s: float) -> None:
    """Open a session row (and forget this user's ended or expired ones); the caller commits."""
    now = db_now(db)
    stale = or_(PageSessionRecord.ended_at.is_not(None),
                PageSessionRecord.created_at < now - timedelta(seconds=lifetime_s))
    db.execute(delete(PageSessionRecord).where(PageSessionRecord.user_id == user.id, stale))
    db.add(PageSessionRecord(id_digest=_digest(session_id), user_id=user.id, created_at=now, last_seen_at=now))


def open_session_problem(db: Session, user_id: int, session_id: str, idle_s: float, lifetime_s: float) -> str | None:
    """None when the session is open (and marks it seen); otherwise why it is not, for the person."""
    digest = _digest(session_id)
    row = db.get(PageSessionRecord, digest)
    if row is None or row.user_id != user_id or not hmac.compare_digest(row.id_digest, digest):
        return "this session is not known to the server (it was ended): log in again"
    if row.ended_at is not None:
        return "you logged out of this session, or your token was reset: log in again"
    now = db_now(db)
    if now - row.created_at > timedelta(seconds=lifetime_s):
        return "the session has expired: log in again"
    if now - row.last_seen_at > timedelta(seconds=idle_s):
        row.ended_at = now
        db.commit()
        return f"the session was idle for more than {idle_s / 60:g} minutes: log in again"
    if now - row.last_seen_at > timedelta(seconds=min(TOUCH_EVERY_S, idle_s / 4)):
        row.last_seen_at = now
        db.commit()
    return None


def end_user_sessions(db: Session, user_id: int) -> int:
    """End every open session of the user (logout, token reset or revocation, disabling); the caller commits."""
    result = db.execute(update(PageSessionRecord).where(
        PageSessionRecord.user_id == user_id, PageSessionRecord.ended_at.is_(None)).values(ended_at=db_now(db)))
    return int(result.rowcount)  # type: ignore[attr-defined]
