"""Start a page session for a user who just proved who they are (token login, LTI launch, SSO): one way for all.

A fresh random session id (sessions rotate at every login), its row in the server-side table
(server.users.page_sessions) and the signed cookie (server.dashboard.sessions) that carries it.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from server.dashboard.sessions import SESSION_COOKIE, SESSION_MAX_AGE_S, CookiePolicy, encode_session, new_session
from server.dependencies import get_secret_key, get_settings
from server.users.models import User
from server.users.page_sessions import record_session


def cookie_secure(request: Request) -> bool:
    settings = get_settings(request)
    return CookiePolicy(cookie_secure=settings.cookie_secure).secure(settings, request.url.scheme)


def start_session(request: Request, response: Response, db: Session, user: User) -> None:
    """Log `user` in with this response (and commit the session's row)."""
    secret = get_secret_key(request)
    session = new_session(secret, user.id, user.token_hash, generation=user.session_generation)
    record_session(db, user, session.session_id, SESSION_MAX_AGE_S)
    db.commit()
    response.set_cookie(SESSION_COOKIE, encode_session(session, secret), max_age=SESSION_MAX_AGE_S, path="/",
                        httponly=True, samesite="lax", secure=cookie_secure(request))
