"""A real LTI 1.3 platform for the tests: the `lti1p3platform` package behind a small Starlette app on 127.0.0.1.

The package implements the platform's side (OIDC login initiation, the launch's signed id_token and its auto-posting
form, the platform key set); this module gives it HTTP routes, a registration pointing at the tool under test, and
the launch a test asks for (user, roles, custom parameters). `launch_form` stops before the browser would post the
form, so a test can alter the id_token and post it itself.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.conftest import free_port

CLIENT_ID = "labgrader-test-client"
DEPLOYMENT_ID = "deployment-1"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
MEMBERSHIPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
FORM_FIELD = re.compile(r'name="(id_token|state)" value="([^"]*)"')
FORM_ACTION = re.compile(r'action="([^"]*)"')


def new_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class LaunchRequest:
    """What the platform puts in one launch (the test's choice)."""

    user_id: str
    roles: list[str]
    name: str = ""
    email: str = ""
    custom: dict[str, str] = field(default_factory=dict)
    deep_link: bool = False  # a deep linking request (the LMS's "add content") instead of a resource link launch


class PlatformConfig(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self.registration_data: Registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self.registration_data


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=302)


class Launch(LTIAdvantageMessageLaunchAbstract):
    def __init__(self, request: Request, config: PlatformConfig, pending: dict[str, LaunchRequest]) -> None:
        super().__init__(request, config)  # type: ignore[arg-type]
        self.query = dict(request.query_params)
        self.pending = pending
        self.issuer = config.registration_data.get_iss()

    def get_preflight_response(self) -> dict[str, Any]:
        return self.query

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        wanted = self.pending[preflight_response["lti_message_hint"]]
        self.set_user_data(wanted.user_id, wanted.roles, full_name=wanted.name or None,
                           email_address=wanted.email or None)
        self.set_resource_link_claim("link-1", title="Lab")
        self.set_ags(f"{self.issuer}/lineitems", f"{self.issuer}/lineitems/1/lineitem?type=lab")
        self.set_nrps(f"{self.issuer}/memberships")
        self.set_launch_context_claim("course-1", context_title="ML 101")
        if wanted.custom:
            self.set_custom_parameters_claim(wanted.custom)
        if wanted.deep_link:
            self.set_dl(f"{self.issuer}/deep-link-return", title="Add a lab", accept_types={"ltiResourceLink"},
                        extra_data={"course": "course-1"})

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Response:
        esc = {k: html.escape(str(v), quote=True) for k, v in launch_data.items()}
        return HTMLResponse(
            f'<html><body><form method="POST" action="{esc["launch_url"]}" id="form">'
            f'<input type="hidden" name="id_token" value="{esc["id_token"]}"/>'
            f'<input type="hidden" name="state" value="{esc["state"]}"/></form>'
            '<script>document.getElementById("form").submit();</script></body></html>')


class LtiPlatformServer:
    """The platform's HTTP server; `issuer` is its URL."""

    def __init__(self, tool_url: str) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.private_pem = new_private_pem()
        self.registration = (Registration().set_iss(self.issuer).set_client_id(CLIENT_ID)
                             .set_deployment_id(DEPLOYMENT_ID).set_launch_url(f"{tool_url}/lti/launch")
                             .set_oidc_login_url(f"{tool_url}/lti/login")
                             .set_deeplink_launch_url(f"{tool_url}/lti/launch")
                             .set_tool_key_set_url(f"{tool_url}/lti/jwks.json")
                             .set_platform_public_key(public_pem(self.private_pem))
                             .set_platform_private_key(self.private_pem))
        self.pending: dict[str, LaunchRequest] = {}
        self.scores: list[dict[str, Any]] = []  # every score the tool posted and the platform took
        self.refuse_scores = False  # answer score posts with 503 (an LMS outage)
        self.refused = 0
        self.members: list[dict[str, Any]] = []  # the course roster the memberships service lists
        self.placed: list[dict[str, Any]] = []  # content items the tool returned by deep linking (verified)
        app = Starlette(routes=[Route("/jwks", self._jwks), Route("/start", self._start),
                                Route("/course", self._course),
                                Route("/authorize", self._authorize), Route("/token", self._token, methods=["POST"]),
                                Route("/lineitems/1/lineitem/scores", self._score, methods=["POST"]),
                                Route("/memberships", self._memberships),
                                Route("/deep-link-return", self._deep_link_return, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def config(self) -> PlatformConfig:
        return PlatformConfig(registration=self.registration)

    @property
    def kid(self) -> str:
        kid = self.registration.get_kid()
        assert kid
        return kid

    def add_platform_args(self) -> list[str]:
        """`labgrader lti add-platform` arguments registering this platform."""
        return ["lti", "add-platform", "--issuer", self.issuer, "--client-id", CLIENT_ID, "--deployment-id",
                DEPLOYMENT_ID, "--keyset-url", f"{self.issuer}/jwks", "--auth-url", f"{self.issuer}/authorize",
                "--token-url", f"{self.issuer}/token"]

    def start(self) -> LtiPlatformServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "the test platform did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def start_url(self, launch: LaunchRequest) -> str:
        """The URL a browser opens to launch the tool as `launch` says (the LMS's assignment link)."""
        hint = secrets.token_urlsafe(8)
        self.pending[hint] = launch
        return f"{self.issuer}/start?hint={hint}"

    async def _course(self, request: Request) -> Response:
        """The LMS's course page showing the tool inside an iframe (a tool placement that opens "embedded")."""
        src = html.escape(f"{self.issuer}/start?hint={request.query_params['hint']}", quote=True)
        return HTMLResponse(f'<html><body><h1>ML 101</h1><iframe src="{src}" title="Labgrader" width="800" '
                            'height="500"></iframe></body></html>')

    def course_url(self, launch: LaunchRequest, host: str = "localhost") -> str:
        """The LMS course page with the tool embedded, on another site than the tool's 127.0.0.1 by default."""
        hint = self.start_url(launch).rsplit("=", 1)[1]
        return f"http://{host}:{self.port}/course?hint={hint}"

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": self.registration.get_jwks()})

    async def _start(self, request: Request) -> Response:
        hint = request.query_params["hint"]
        login = Login(request, self.config)
        login.set_lti_message_hint(hint=hint)
        return login.initiate_login(self.pending[hint].user_id)  # type: ignore[no-any-return]

    async def _authorize(self, request: Request) -> Response:
        return Launch(request, self.config, self.pending).lti_launch()  # type: ignore[no-any-return]

    async def _token(self, request: Request) -> Response:
        """OAuth2 client credentials with the tool's signed assertion, checked against the tool's JWKS (fetched)."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.registration.set_tool_key_set(None)  # type: ignore[arg-type]  # fetch again: the tool may have rotated
        config = self.config
        config.get_registration()
        try:
            return JSONResponse(config.get_access_token(form))
        except Exception as exc:
            return JSONResponse({"error": "invalid_client", "detail": str(exc)}, status_code=401)

    async def _score(self, request: Request) -> Response:
        config = self.config
        config.get_registration()
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if request.query_params.get("type") != "lab":
            return JSONResponse({"error": "the line item URL lost its query"}, status_code=404)
        if not token or not config.validate_token(token, allowed_scopes=[SCORE_SCOPE]):
            return JSONResponse({"error": "no score scope"}, status_code=401)
        if request.headers.get("content-type") != "application/vnd.ims.lis.v1.score+json":
            return JSONResponse({"error": "wrong content type"}, status_code=415)
        if self.refuse_scores:
            self.refused += 1
            return JSONResponse({"error": "maintenance"}, status_code=503)
        self.scores.append(await request.json())
        return Response(status_code=204)

    async def _memberships(self, request: Request) -> Response:
        config = self.config
        config.get_registration()
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or not config.validate_token(token, allowed_scopes=[MEMBERSHIPS_SCOPE]):
            return JSONResponse({"error": "no membership scope"}, status_code=401)
        return JSONResponse({"id": f"{self.issuer}/memberships", "context": {"id": "course-1", "title": "ML 101"},
                             "members": self.members},
                            media_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json")

    async def _deep_link_return(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.registration.set_tool_key_set(None)  # type: ignore[arg-type]
        config = self.config
        config.get_registration()
        try:
            self.placed.extend(config.validate_deeplinking_resp(form))
        except Exception as exc:
            return HTMLResponse(f"refused: {html.escape(str(exc))}", status_code=400)
        return HTMLResponse("<p>Lab placed</p>")

    def launch_form(self, client: httpx.Client, launch: LaunchRequest) -> tuple[str, dict[str, str]]:
        """Follow the login through the tool and the platform up to the auto-posting form: (its action, fields)."""
        response = client.get(self.start_url(launch), follow_redirects=True)
        assert response.status_code == 200, response.text
        fields = {name: html.unescape(value) for name, value in FORM_FIELD.findall(response.text)}
        action = FORM_ACTION.search(response.text)
        assert action is not None and set(fields) == {"id_token", "state"}, response.text
        return html.unescape(action.group(1)), fields
