"""Log in with an API token (-> a session: server.dashboard.session_start) and log out (every session of the user)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from server.dashboard.access import AnyViewer, DbSession, PageRoute, checked_form
from server.dashboard.rendering import page
from server.dashboard.session_start import cookie_secure, start_session
from server.dashboard.sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE, check_csrf
from server.dependencies import get_auth_throttle, get_settings
from server.users.service import end_page_sessions, user_for_token

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def safe_next(target: str | None, is_instructor: bool) -> str:
    """Only a path on this site (never `//host` or a scheme); the role's home page otherwise."""
    home = "/dashboard" if is_instructor else "/me"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    if target.startswith("/dashboard") and not is_instructor:
        return home
    return target


def _login_page(request: Request, next_path: str, status_code: int = 200, message: str = "") -> Response:
    csrf = secrets.token_urlsafe(32)
    response = page("login.html", status_code, viewer=None, csrf_token=csrf, next_path=next_path, message=message,
                    sso=bool(get_settings(request).sso_issuer))
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=3600, path="/login", httponly=True, samesite="strict",
                        secure=cookie_secure(request))
    return response


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return _login_page(request, next)


@router.post("/login")
def login(request: Request, db: DbSession, token: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token)
    user = user_for_token(db, token.strip())
    if user is None:
        get_auth_throttle(request).wrong_token(request)
        return _login_page(request, next, 401, "That token is not valid. Paste the whole token, starting with lg_.")
    if user.disabled_at is not None:
        return _login_page(request, next, 403, "This account is disabled. Ask your instructor to enable it.")
    response = RedirectResponse(safe_next(next, user.is_staff), status_code=303)
    start_session(request, response, db, user)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, viewer: AnyViewer, db: DbSession) -> Response:
    await checked_form(request, viewer)
    end_page_sessions(db, viewer.user)  # a copy of the cookie, here or on another device, no longer logs anyone in
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))
    return response
