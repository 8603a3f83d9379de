"""The one seam between a campus login (LTI launch, SSO) and the pages: start a dashboard session for a user.

It builds the same signed cookie as the token login (server.dashboard.sessions); when the dashboard offers a
function for this, this module is the only place that changes.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from server.dashboard.sessions import SESSION_COOKIE, SESSION_MAX_AGE_S, CookiePolicy, encode_session, new_session
from server.dependencies import get_secret_key, get_settings
from server.users.models import User


def cookie_secure(request: Request) -> bool:
    settings = get_settings(request)
    return CookiePolicy(cookie_secure=settings.cookie_secure).secure(settings)


def redirect_with_session(request: Request, user: User, target: str) -> RedirectResponse:
    """A 303 to `target` (a path on this site) that logs `user` in."""
    response = RedirectResponse(target, status_code=303)
    attach_session(request, response, user)
    return response


def attach_session(request: Request, response: Response, user: User) -> None:
    """Log `user` in with this response."""
    secret = get_secret_key(request)
    session = new_session(secret, user.id, user.token_hash, generation=user.session_generation)
    response.set_cookie(SESSION_COOKIE, encode_session(session, secret),
                        max_age=SESSION_MAX_AGE_S, path="/", httponly=True, samesite="lax",
                        secure=cookie_secure(request))
