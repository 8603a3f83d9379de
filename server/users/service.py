"""Create users and resolve API tokens. Tokens are 256-bit random strings, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput
from server.users.models import Role, User
from server.users.page_sessions import end_user_sessions

TOKEN_PREFIX = "lg_"  # noqa: S105 (a prefix, not a secret)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new user's token, shown once and never stored in the clear."""

    name: str
    role: str
    token: str


def create_user(session: Session, name: str, role: str) -> IssuedToken:
    if not NAME_PATTERN.match(name):
        raise InvalidInput(f"user name {name!r} must be 1-100 letters, digits, '.', '_', '@' or '-'")
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"role must be 'student', 'ta' or 'instructor', not {role!r}") from exc
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(User(name=name, role=role_value.value, token_hash=hash_token(token), token_prefix=token[:8]))
    session.flush()
    return IssuedToken(name=name, role=role_value.value, token=token)


def user_for_token(session: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    user = session.scalar(select(User).where(User.token_hash == digest))
    if user is None or not hmac.compare_digest(user.token_hash, digest):
        return None
    return user


def end_page_sessions(session: Session, user: User) -> None:
    """Log a user out of every page session: their rows end, and each cookie carries the generation it was made in."""
    session.execute(update(User).where(User.id == user.id)
                    .values(session_generation=User.session_generation + 1))
    end_user_sessions(session, user.id)
    session.commit()
