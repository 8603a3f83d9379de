"""A user's life after creation: reset the token (shown once), revoke it, disable and enable, delete; audited.

    DomainError
     ├── NotFound   no user by that name
     └── Conflict   an instructor acting on their own account (they would lock themselves out)

Every change ends the user's page sessions (server.users.page_sessions), so their open pages log out at once, and
writes an `AuditEvent` with the actor's name in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.db import db_now
from server.errors import Conflict, NotFound
from server.jobs.models import GradingJob
from server.submissions.models import Submission
from server.users.models import AuditEvent, User
from server.users.page_sessions import end_user_sessions
from server.users.service import TOKEN_PREFIX, IssuedToken, hash_token


class RosterAction(StrEnum):
    RESET_TOKEN = "reset-token"  # noqa: S105 (an action name, not a secret)
    REVOKE = "revoke"
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"


def find_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def _audit(session: Session, actor: str, action: RosterAction, target: str, detail: str) -> None:
    session.add(AuditEvent(actor=actor[:100], action=action.value, target=target[:100], detail=detail,
                           created_at=db_now(session)))


def _not_self(user: User, actor: str, action: RosterAction) -> None:
    if user.name == actor and action is not RosterAction.RESET_TOKEN:
        raise Conflict(f"you cannot {action.value.replace('-', ' ')} your own account; ask another instructor")


def _end_sessions(session: Session, user: User) -> None:
    user.session_generation = (user.session_generation or 0) + 1
    end_user_sessions(session, user.id)


def reset_token(session: Session, name: str, actor: str) -> IssuedToken:
    """A new token for the user (the old one stops working); shown once."""
    user = find_user(session, name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user.token_hash, user.token_prefix, user.token_revoked_at = hash_token(token), token[:8], None
    _end_sessions(session, user)
    _audit(session, actor, RosterAction.RESET_TOKEN, name, f"new token {token[:8]}…")
    session.flush()
    return IssuedToken(name=user.name, role=user.role, token=token)


def revoke_token(session: Session, name: str, actor: str) -> None:
    """The user's token stops working now; a reset gives them a new one."""
    user = find_user(session, name)
    _not_self(user, actor, RosterAction.REVOKE)
    # an unguessable hash of nothing anyone holds: the column stays unique and no token matches it
    user.token_hash, user.token_revoked_at = hash_token(secrets.token_urlsafe(32)), db_now(session)
    _end_sessions(session, user)
    _audit(session, actor, RosterAction.REVOKE, name, f"token {user.token_prefix}… revoked")


def set_disabled(session: Session, name: str, actor: str, disabled: bool) -> None:
    """A disabled user can neither log in nor use the API; their submissions and grades stay."""
    action = RosterAction.DISABLE if disabled else RosterAction.ENABLE
    user = find_user(session, name)
    _not_self(user, actor, action)
    user.disabled_at = db_now(session) if disabled else None
    _end_sessions(session, user)
    _audit(session, actor, action, name, "disabled" if disabled else "enabled")


def delete_user(session: Session, name: str, actor: str) -> int:
    """Remove the user and everything they submitted (jobs, results, notebooks); returns how many submissions."""
    user = find_user(session, name)
    _not_self(user, actor, RosterAction.DELETE)
    count = session.scalar(select(func.count()).where(Submission.student_id == user.id)) or 0
    # jobs, check results and artifacts hang off submissions with ON DELETE CASCADE
    session.execute(delete(GradingJob).where(GradingJob.student_id == user.id))
    session.execute(delete(Submission).where(Submission.student_id == user.id))
    session.delete(user)
    _audit(session, actor, RosterAction.DELETE, name, f"deleted with {count} submission(s)")
    return int(count)


@dataclass(frozen=True)
class AuditLine:
    created_at: datetime
    actor: str
    action: str
    target: str
    detail: str


def recent_audit(session: Session, limit: int = 50) -> list[AuditLine]:
    rows = session.execute(select(AuditEvent.created_at, AuditEvent.actor, AuditEvent.action, AuditEvent.target,
                                  AuditEvent.detail).order_by(AuditEvent.id.desc()).limit(limit)).tuples().all()
    return [AuditLine(*row) for row in rows]
