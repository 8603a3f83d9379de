"""Who is looking at a page: the session cookie, roles, CSRF, and errors shown as pages instead of JSON.

Not logged in -> redirect to /login. A student on an instructor page -> 403. Someone else's submission -> 404,
exactly as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from server.auth import get_session
from server.dashboard.rendering import page
from server.dashboard.sessions import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    CsrfRejected,
    PageSession,
    SessionMissing,
    check_binding,
    check_csrf,
    csrf_token,
    decode_session,
)
from server.dependencies import get_secret_key, get_settings
from server.errors import DomainError, Forbidden, RateLimited
from server.users.models import User
from server.users.page_sessions import open_session_problem


class PageRoute(APIRoute):
    """Domain and session errors become HTML pages (or a redirect to the login page)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SessionMissing:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
                return page("error.html", 401, viewer=None, title="Not logged in",
                            message="Your session has ended. Log in again and repeat the action.")
            except CsrfRejected as exc:
                return page("error.html", 403, viewer=None, title="Form refused", message=str(exc))
            except DomainError as exc:
                response = page("error.html", exc.status_code, viewer=getattr(request.state, "viewer", None),
                                title=_TITLES.get(exc.status_code, "Request refused"), message=exc.message)
                if isinstance(exc, RateLimited):
                    response.headers["Retry-After"] = str(exc.retry_after_s)
                return response

        return guarded


_TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid input", 429: "Too many attempts"}

DbSession = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a page and their session (whose CSRF token every form embeds)."""

    user: User
    session: PageSession
    csrf_token: str

    @property
    def is_instructor(self) -> bool:
        return self.user.is_instructor


def current_viewer(request: Request, db: DbSession) -> Viewer:
    secret = get_secret_key(request)
    session = decode_session(request.cookies.get(SESSION_COOKIE), secret)
    user = db.get(User, session.user_id)
    if user is None or not check_binding(session, secret, user.id, user.token_hash):
        raise SessionMissing("the session belongs to a token that is no longer valid: log in again")
    if user.disabled_at is not None:
        raise SessionMissing("this account is disabled: ask your instructor")
    if session.generation != user.session_generation:
        raise SessionMissing("you logged out of this session: log in again")
    settings = get_settings(request)
    problem = open_session_problem(db, user.id, session.session_id, settings.session_idle_minutes * 60,
                                   SESSION_MAX_AGE_S)
    if problem is not None:
        raise SessionMissing(problem)
    viewer = Viewer(user, session, csrf_token(secret, session))
    request.state.viewer = viewer
    return viewer


def instructor_viewer(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_instructor:
        raise Forbidden("this page is for instructors; your own results are at /me")
    return viewer


def staff_viewer(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.user.is_staff:
        raise Forbidden("this page is for instructors and TAs; your own results are at /me")
    return viewer


AnyViewer = Annotated[Viewer, Depends(current_viewer)]
InstructorViewer = Annotated[Viewer, Depends(instructor_viewer)]
StaffViewer = Annotated[Viewer, Depends(staff_viewer)]  # instructors and TAs: view, override, regrade one


async def checked_form(request: Request, viewer: Viewer) -> Any:
    """The posted form, after its hidden `csrf_token` matched the session's."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(viewer.csrf_token, token if isinstance(token, str) else None)
    return form
