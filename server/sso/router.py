"""SSO pages: /sso/login (to the provider), /sso/callback (back, logged in), and /account/token (mint your own)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from server.dashboard.access import AnyViewer, DbSession, PageRoute, checked_form
from server.dashboard.rendering import secured
from server.dependencies import get_settings
from server.lti.page_session import attach_session, cookie_secure, redirect_with_session
from server.roster.lifecycle import reset_token
from server.sso import service

STATE_COOKIE = "labgrader_sso_state"
router = APIRouter(route_class=PageRoute, include_in_schema=False)

_TOKEN_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your API token</title></head><body><main>
<h1>Your API token</h1>
{% if token %}<p>Your new token (shown once: store it now; your previous token no longer works):</p>
<p><code id="token">{{ token }}</code></p>
<p>Use it with <code>labgrader submit NOTEBOOK --lab LAB --token TOKEN</code>.</p>
{% else %}<p>A token lets the command line (<code>labgrader submit</code>) act as you. Making a new one ends your
previous token.</p>{% endif %}
{% if csrf_token %}<form method="post" action="/account/token">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<button type="submit">Make a new API token</button></form>{% endif %}
<p><a href="{{ home }}">Back</a></p></main></body></html>""")


def _metadata(request: Request) -> service.ProviderMetadata:
    metadata: service.ProviderMetadata = request.app.state.sso_metadata
    return metadata


def _callback_url(request: Request) -> str:
    return str(request.url_for("sso_callback"))


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else ""


@router.get("/sso/login")
def sso_login(request: Request, db: DbSession, next: str = "") -> Response:
    settings = get_settings(request)
    if not settings.sso_issuer:
        raise service.SsoRefused("single sign-on is not set up on this server: log in with your API token")
    url, state = service.begin_login(db, settings, _metadata(request), _callback_url(request), _safe_next(next))
    db.commit()
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(STATE_COOKIE, state, max_age=service.STATE_TTL_S, path="/sso", httponly=True, samesite="lax",
                        secure=cookie_secure(request))
    return response


@router.get("/sso/callback", name="sso_callback")
def sso_callback(request: Request, db: DbSession, code: str = "", state: str = "", error: str = "") -> Response:
    if error:
        raise service.SsoRefused(f"the sign-in provider answered {error[:100]!r}: start again from the login page")
    user, next_path = service.complete_login(db, get_settings(request), _metadata(request), _callback_url(request),
                                             code, state, request.cookies.get(STATE_COOKIE))
    home = "/dashboard" if user.is_instructor else "/me"
    target = next_path if next_path and (user.is_instructor or not next_path.startswith("/dashboard")) else home
    response = redirect_with_session(request, db, user, target)
    response.delete_cookie(STATE_COOKIE, path="/sso")
    return response


@router.get("/account/token")
def token_page(viewer: AnyViewer) -> Response:
    return secured(HTMLResponse(_TOKEN_PAGE.render(token="", csrf_token=viewer.csrf_token,
                                                   home="/dashboard" if viewer.is_instructor else "/me")))


@router.post("/account/token")
async def mint_token(request: Request, viewer: AnyViewer, db: DbSession) -> Response:
    """A new API token for the logged-in user (their old one stops working), shown once; the session goes on."""
    await checked_form(request, viewer)
    issued = reset_token(db, viewer.user.name, actor=f"self:{viewer.user.name}")
    db.commit()
    db.refresh(viewer.user)
    response = secured(HTMLResponse(_TOKEN_PAGE.render(token=issued.token, csrf_token="",
                                                       home="/dashboard" if viewer.is_instructor else "/me")))
    attach_session(request, response, db, viewer.user)  # the old session was bound to the old token
    return response
