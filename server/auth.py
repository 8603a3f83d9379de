"""Who is asking: bearer tokens for the API (session cookies for pages come with the dashboard)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from server.dependencies import get_auth_throttle, get_session_factory
from server.errors import Forbidden, NotAuthenticated
from server.users.models import User
from server.users.service import user_for_token


def get_session(request: Request) -> Iterator[Session]:
    with get_session_factory(request)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_user(request: Request, session: SessionDep) -> User:
    token = bearer_token(request)
    if token is None:
        raise NotAuthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    user = user_for_token(session, token)
    if user is None:
        get_auth_throttle(request).wrong_token(request)
        raise NotAuthenticated("the token is not valid")
    if user.disabled_at is not None:
        raise Forbidden("this account is disabled: ask your instructor")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def current_instructor(user: CurrentUser) -> User:
    if not user.is_instructor:
        raise Forbidden("this needs an instructor's token")
    return user


Instructor = Annotated[User, Depends(current_instructor)]


def current_staff(user: CurrentUser) -> User:
    if not user.is_staff:
        raise Forbidden("this needs an instructor's or a TA's token")
    return user


Staff = Annotated[User, Depends(current_staff)]
