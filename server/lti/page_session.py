"""The one seam between a campus login (LTI launch, SSO) and the pages: start a dashboard session for a user.

It starts the same session as the token login (server.dashboard.session_start).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from server.dashboard.session_start import cookie_secure, start_session
from server.users.models import User

__all__ = ["attach_session", "cookie_secure", "redirect_with_session"]


def redirect_with_session(request: Request, db: Session, user: User, target: str) -> RedirectResponse:
    """A 303 to `target` (a path on this site) that logs `user` in."""
    response = RedirectResponse(target, status_code=303)
    attach_session(request, response, db, user)
    return response


def attach_session(request: Request, response: Response, db: Session, user: User) -> None:
    """Log `user` in with this response."""
    start_session(request, response, db, user)
