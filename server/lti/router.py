"""LTI 1.3 endpoints: the tool's key set, OIDC login initiation (with its new-window fallback), and the launch
(id_token form post)."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from server.auth import Instructor, SessionDep
from server.dashboard.access import DbSession, PageRoute
from server.dashboard.rendering import CONTENT_SECURITY_POLICY, page
from server.dependencies import get_settings
from server.labs.service import list_specs
from server.lti import passback, service
from server.lti.deep_link import picker_page
from server.lti.keys import ToolKeys
from server.lti.page_session import attach_session, cookie_secure, redirect_with_session
from server.lti.platform_keys import PlatformKeys
from server.lti.schemas import DEEP_LINKING_REQUEST, VerifiedLaunch
from server.users.models import Role

STATE_COOKIE = "labgrader_lti_state"

router = APIRouter(prefix="/lti", route_class=PageRoute, include_in_schema=False)
api_router = APIRouter(prefix="/api/v1/lti", tags=["lti"])


def _platform_keys(request: Request) -> PlatformKeys:
    keys: PlatformKeys = request.app.state.lti_platform_keys
    return keys


@router.get("/jwks.json")
def jwks(request: Request) -> JSONResponse:
    """The tool's public keys, for platforms to verify what it signs."""
    return JSONResponse(ToolKeys.for_data_dir(get_settings(request).data_dir).jwks(),
                        headers={"Cache-Control": "max-age=3600"})


LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id", "lti_deployment_id")
CHECK_PARAM = "lg_state"  # the second step of a login: the state the browser should now send back in its cookie
MAX_PARAM_CHARS = 4096
FRAMED = "the browser shows it inside another site's page, where it keeps no cookie of Labgrader's."


async def _login(request: Request, db: DbSession) -> Response:
    """OIDC login initiation in two steps: (1) a new state in a cookie, and a redirect to this same URL naming it;
    (2) when the browser sent that cookie back and is not inside a frame, the redirect to the platform. Inside an
    LMS's iframe (or when the cookie did not come back) a page offers to open the login in a new window instead,
    where the state is bound by a first-party cookie (docs/lti.md)."""
    raw = dict(request.query_params)
    if request.method == "POST":
        raw.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    params = {k: raw[k] for k in LOGIN_PARAMS if raw.get(k) and len(raw[k]) <= MAX_PARAM_CHARS}
    again = "/lti/login?" + urlencode(params)
    checked = request.query_params.get(CHECK_PARAM)
    if request.headers.get("sec-fetch-dest") == "iframe":
        service.login_platform(db, params)  # refused parameters are refused here too
        return _new_window_page(again)
    if checked is None:
        state = service.begin_login(db, params)
        db.commit()
        response = RedirectResponse(f"{again}&{urlencode({CHECK_PARAM: state})}", status_code=302)
        secure = cookie_secure(request)
        # the launch is a cross-site POST from the LMS: the cookie must be SameSite=None there, which needs Secure
        response.set_cookie(STATE_COOKIE, state, max_age=service.STATE_TTL_S, path="/lti", httponly=True,
                            samesite="none" if secure else "lax", secure=secure)
        return response
    cookie = request.cookies.get(STATE_COOKIE)
    if not cookie or not hmac.compare_digest(cookie.encode(), checked.encode()):
        return _new_window_page(again, "this browser did not keep Labgrader's login cookie (a browser that blocks "
                                       "third-party cookies does this to a tool shown inside the LMS page).")
    return RedirectResponse(service.auth_redirect(db, params, checked), status_code=302)


def _new_window_page(login_url: str, reason: str = FRAMED) -> Response:
    """The one Labgrader page an LMS may frame: a link that starts the same login in a new top-level window."""
    response = page("lti_new_window.html", viewer=None, login_url=login_url, reason=reason)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'",
                                                                                 "frame-ancestors *")
    del response.headers["X-Frame-Options"]
    return response


router.add_api_route("/login", _login, methods=["GET", "POST"], name="lti_login")


@router.post("/launch", name="lti_launch")
def launch(request: Request, db: DbSession, id_token: Annotated[str, Form()] = "",
           state: Annotated[str, Form()] = "") -> Response:
    verified = service.verify_launch(db, state, id_token, request.cookies.get(STATE_COOKIE), _platform_keys(request))
    if verified.message_type == DEEP_LINKING_REQUEST:
        return _deep_link(request, db, verified)
    user = service.user_for_launch(db, verified)
    passback.record_placement(db, verified, user)
    target = service.landing_path(user, verified.lab_id, {spec.id for spec in list_specs(db)})
    response = redirect_with_session(request, db, user, target)
    response.delete_cookie(STATE_COOKIE, path="/lti")
    return response


@api_router.get("/passbacks", responses={401: {"description": "bad token"}, 403: {"description": "not an instructor"}})
def passbacks(_: Instructor, db: SessionDep) -> list[dict[str, object]]:
    """Instructors: every student's grade passback to the LMS (score, sent or pending, attempts, last error)."""
    return passback.list_passbacks(db)


def _deep_link(request: Request, db: DbSession, verified: VerifiedLaunch) -> Response:
    if verified.role != Role.INSTRUCTOR:
        raise service.LaunchRefused("only the course's instructors place labs in it")
    user = service.user_for_launch(db, verified)
    keys = ToolKeys.for_data_dir(get_settings(request).data_dir)
    response = HTMLResponse(picker_page(verified, list_specs(db), keys))
    attach_session(request, response, db, user)
    response.delete_cookie(STATE_COOKIE, path="/lti")
    return response
