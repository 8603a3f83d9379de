"""Platform registrations, OIDC login initiation and launch verification, and who a launch logs in.

    DomainError (server.errors)
     ├── LaunchRefused (403)     a login or launch failed a check: the message says which
     └── UnknownPlatform (404)   no registration for this issuer / client id / deployment

A launch is accepted only when: its `state` was issued by this server less than `STATE_TTL_S` ago, was never used
before and matches the browser's state cookie; its id_token is signed (RS256) by a key of the platform's key set;
its `iss`, `aud`, `azp`, `exp`, `iat`, `nonce` and deployment id are the registration's and the state's; it is an
LTI 1.3.0 resource-link launch naming a user and a course role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db import db_now
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.lti import schemas
from server.lti.models import LtiLoginState, LtiPlatform, LtiUserLink
from server.lti.platform_keys import PlatformKeys
from server.users.models import User
from server.users.service import NAME_PATTERN, create_user

STATE_TTL_S = 600
CLOCK_LEEWAY_S = 30
LAUNCH_PATH = "/lti/launch"


class LaunchRefused(Forbidden):
    pass


class UnknownPlatform(NotFound):
    pass


FIELD_NAMES = {"issuer": "the issuer", "client-id": "the client id", "deployment-id": "the deployment id",
               "keyset-url": "the public key set URL", "auth-url": "the authentication (OIDC auth) URL",
               "token-url": "the access token URL"}


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput(f"{FIELD_NAMES[name]} (--{name}) must be an http(s) URL, not {url!r}")
    return url


def register_platform(session: Session, *, issuer: str, client_id: str, deployment_id: str, keyset_url: str,
                      auth_url: str, token_url: str) -> LtiPlatform:
    """Store an LMS registration (the values the LMS shows when the tool is added to it)."""
    for name, value in (("issuer", issuer), ("client-id", client_id), ("deployment-id", deployment_id)):
        if not value.strip() or len(value) > 300 or value != value.strip():
            raise InvalidInput(f"{FIELD_NAMES[name]} (--{name}) must be 1-300 characters, without spaces around")
    exists = session.scalar(select(LtiPlatform.id).where(
        LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id, LtiPlatform.deployment_id == deployment_id))
    if exists is not None:
        raise Conflict(f"platform {issuer} with client id {client_id} and deployment {deployment_id} is already "
                       f"registered (id {exists})")
    platform = LtiPlatform(issuer=issuer, client_id=client_id, deployment_id=deployment_id,
                           keyset_url=_check_url("keyset-url", keyset_url), auth_url=_check_url("auth-url", auth_url),
                           token_url=_check_url("token-url", token_url))
    session.add(platform)
    session.flush()
    return platform


def register_deployments(session: Session, *, deployment_ids: list[str], **values: str) -> list[LtiPlatform]:
    """One registration per deployment id of the same LMS client (the CLI and the page); the caller commits all of
    them or, when one is refused, none."""
    if not deployment_ids:
        raise InvalidInput(f"{FIELD_NAMES['deployment-id']} (--deployment-id) is missing: the LMS shows it once the "
                           "tool is deployed")
    if len(set(deployment_ids)) != len(deployment_ids):
        raise InvalidInput("a deployment id is given twice")
    return [register_platform(session, deployment_id=d, **values) for d in deployment_ids]


def list_platforms(session: Session) -> list[LtiPlatform]:
    return list(session.scalars(select(LtiPlatform).order_by(LtiPlatform.id)))


def _find_platform(session: Session, issuer: str, client_id: str | None, deployment_id: str | None) -> LtiPlatform:
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        query = query.where(LtiPlatform.client_id == client_id)
    if deployment_id:
        query = query.where(LtiPlatform.deployment_id == deployment_id)
    found = list(session.scalars(query.order_by(LtiPlatform.id)))
    if not found:
        raise UnknownPlatform(f"no LTI platform is registered for issuer {issuer!r}"
                              + (f" and client id {client_id!r}" if client_id else "")
                              + ": an operator adds it with `labgrader lti add-platform`")
    clients = {p.client_id for p in found}
    if len(clients) > 1:
        raise LaunchRefused(f"issuer {issuer!r} has several registrations: the LMS must send client_id")
    return found[0]


def login_platform(session: Session, params: dict[str, str]) -> LtiPlatform:
    """The registration a login initiation names, after its parameters are checked."""
    for required in ("iss", "login_hint", "target_link_uri"):
        if not params.get(required):
            raise LaunchRefused(f"the login initiation has no {required}: start the launch from the LMS")
    platform = _find_platform(session, params["iss"], params.get("client_id"), params.get("lti_deployment_id"))
    target = urlsplit(params["target_link_uri"])
    if target.scheme not in ("https", "http") or target.path != LAUNCH_PATH:
        raise LaunchRefused(f"target_link_uri must be this server's {LAUNCH_PATH}, not {params['target_link_uri']!r}:"
                            " fix the tool's launch URL in the LMS")
    return platform


def begin_login(session: Session, params: dict[str, str]) -> str:
    """OIDC login initiation, first step: a new single-use state (and its nonce) for the browser's cookie."""
    platform = login_platform(session, params)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(LtiLoginState(state=state, nonce=nonce, platform_id=platform.id, created_at=db_now(session)))
    return state


def auth_redirect(session: Session, params: dict[str, str], state: str) -> str:
    """OIDC login initiation, second step (the browser showed it keeps the state cookie): the platform's
    authorization URL for this state."""
    platform = login_platform(session, params)
    row = session.get(LtiLoginState, state) if state and len(state) <= 64 else None
    if (row is None or row.used_at is not None or row.platform_id != platform.id
            or row.created_at < db_now(session) - timedelta(seconds=STATE_TTL_S)):
        raise LaunchRefused("this login has expired or belongs to another LMS: start it again from the LMS")
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
             "client_id": platform.client_id, "redirect_uri": params["target_link_uri"],
             "login_hint": params["login_hint"], "state": state, "nonce": row.nonce}
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if urlsplit(platform.auth_url).query else "?"
    return platform.auth_url + separator + urlencode(query)


def _consume_state(session: Session, state: str, cookie_state: str | None) -> LtiLoginState:
    if not state or len(state) > 64:
        raise LaunchRefused("the launch has no state: start it again from the LMS")
    if not cookie_state or not hmac.compare_digest(state.encode(), cookie_state.encode()):
        raise LaunchRefused("the launch's state does not match this browser's login: start it again from the LMS "
                            "(if it opens inside the LMS page, set the tool to open in a new window)")
    now = db_now(session)
    used = session.execute(update(LtiLoginState).where(
        LtiLoginState.state == state, LtiLoginState.used_at.is_(None),
        LtiLoginState.created_at >= now - timedelta(seconds=STATE_TTL_S)).values(used_at=now))
    row = session.get(LtiLoginState, state)
    if used.rowcount != 1 or row is None:  # type: ignore[attr-defined]
        raise LaunchRefused("this launch was already used or has expired: start it again from the LMS")
    return row


def _verify_token(platform: LtiPlatform, id_token: str, nonce: str, keys: PlatformKeys) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise LaunchRefused("the launch's id_token is not a JWT") from exc
    if header.get("alg") != "RS256":
        raise LaunchRefused(f"the launch's id_token is signed with {header.get('alg')!r}; LTI 1.3 requires RS256")
    key = keys.key_for(platform.keyset_url, str(header.get("kid", "")))
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token, key, algorithms=["RS256"], audience=platform.client_id, issuer=platform.issuer,
            leeway=CLOCK_LEEWAY_S, options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]})
    except jwt.InvalidSignatureError as exc:
        raise LaunchRefused("the launch's id_token signature does not verify with the platform's key set") from exc
    except jwt.ExpiredSignatureError as exc:
        raise LaunchRefused("the launch's id_token has expired: start it again from the LMS") from exc
    except jwt.InvalidAudienceError as exc:
        raise LaunchRefused(f"the launch's id_token is not for client id {platform.client_id!r}") from exc
    except jwt.InvalidIssuerError as exc:
        raise LaunchRefused(f"the launch's id_token was not issued by {platform.issuer!r}") from exc
    except jwt.PyJWTError as exc:
        raise LaunchRefused(f"the launch's id_token is not valid: {exc}") from exc
    if not hmac.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
        raise LaunchRefused("the launch's nonce is not the one this login issued")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if ("azp" in claims or len(audiences) > 1) and claims.get("azp") != platform.client_id:
        raise LaunchRefused(f"the launch's id_token azp is not client id {platform.client_id!r}")
    if claims.get(schemas.DEPLOYMENT_ID) != platform.deployment_id:
        raise LaunchRefused(f"the launch comes from deployment {claims.get(schemas.DEPLOYMENT_ID)!r}, which is not "
                            "registered: an operator adds it with `labgrader lti add-platform`")
    if claims.get(schemas.VERSION) != "1.3.0":
        raise LaunchRefused(f"the launch is LTI version {claims.get(schemas.VERSION)!r}; Labgrader speaks 1.3.0")
    if claims.get(schemas.MESSAGE_TYPE) not in (schemas.RESOURCE_LINK_REQUEST, schemas.DEEP_LINKING_REQUEST):
        raise LaunchRefused(f"the launch's message type {claims.get(schemas.MESSAGE_TYPE)!r} is not supported")
    return claims


def verify_launch(session: Session, state: str, id_token: str, cookie_state: str | None,
                  keys: PlatformKeys) -> schemas.VerifiedLaunch:
    """Every check of a launch (see the module docstring); the state is spent whether or not the token passes."""
    row = _consume_state(session, state, cookie_state)
    session.commit()  # a refused token still spends its state: no second try with the same one
    platform = session.get(LtiPlatform, row.platform_id)
    if platform is None:
        raise UnknownPlatform("the LTI platform of this login was removed")
    claims = _verify_token(platform, id_token, row.nonce, keys)
    if not str(claims["sub"]).strip():
        raise LaunchRefused("the launch names no user (anonymous launches are not supported)")
    roles = claims.get(schemas.ROLES)
    role = schemas.map_roles([str(r) for r in roles] if isinstance(roles, list) else [])
    if role is None:
        raise LaunchRefused("the launch gives you no role in this course that Labgrader knows (learner, instructor "
                            "or teaching assistant): ask the course's instructor")
    custom = claims.get(schemas.CUSTOM)
    lab = custom.get("lab") if isinstance(custom, dict) else None
    hints = tuple(str(claims[k]) for k in ("preferred_username", "email", "name") if isinstance(claims.get(k), str))
    link, ags, nrps = (claims.get(c) for c in (schemas.RESOURCE_LINK, schemas.AGS_ENDPOINT, schemas.NRPS_SERVICE))
    return schemas.VerifiedLaunch(
        issuer=platform.issuer, subject=str(claims["sub"]), role=role, lab_id=str(lab) if lab else None,
        name_hints=hints, platform_id=platform.id,
        resource_link_id=_text(link.get("id")) if isinstance(link, dict) else None,
        lineitem_url=_text(ags.get("lineitem")) if isinstance(ags, dict) else None,
        memberships_url=_text(nrps.get("context_memberships_url")) if isinstance(nrps, dict) else None,
        message_type=str(claims[schemas.MESSAGE_TYPE]), target_link_uri=str(claims.get(schemas.TARGET_LINK_URI, "")),
        client_id=platform.client_id, deployment_id=platform.deployment_id,
        **_deep_linking(claims))


def _deep_linking(claims: dict[str, Any]) -> dict[str, Any]:
    if claims[schemas.MESSAGE_TYPE] != schemas.DEEP_LINKING_REQUEST:
        return {}
    settings = claims.get(schemas.DEEP_LINKING_SETTINGS)
    if not isinstance(settings, dict) or not _text(settings.get("deep_link_return_url")):
        raise LaunchRefused("the deep linking request has no deep_link_return_url")
    if urlsplit(settings["deep_link_return_url"]).scheme not in ("https", "http"):
        raise LaunchRefused("the deep linking request's deep_link_return_url is not an http(s) URL")
    if "ltiResourceLink" not in (settings.get("accept_types") or []):
        raise LaunchRefused("the LMS does not accept LTI links here (accept_types has no ltiResourceLink)")
    return {"deep_link_return_url": settings["deep_link_return_url"], "deep_link_data": settings.get("data")}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _free_name(session: Session, launch: schemas.VerifiedLaunch) -> str:
    """A Labgrader name for a new LMS user: their LMS user name or e-mail when free, else a stable digest."""
    digest = "lti-" + hashlib.sha256(f"{launch.issuer}\n{launch.subject}".encode()).hexdigest()[:12]
    for hint in launch.name_hints:
        name = re.sub(r"[^A-Za-z0-9._@-]", "-", hint.strip())[:90].strip("-._@")
        if name and NAME_PATTERN.match(name) and session.scalar(select(User.id).where(User.name == name)) is None:
            return name
    return digest


def user_for_launch(session: Session, launch: schemas.VerifiedLaunch, keep_role: bool = False) -> User:
    """The Labgrader user of a verified launch: linked by (issuer, sub), created on the first launch.

    An LMS user is never linked to an existing Labgrader account by name or e-mail (an LMS profile's e-mail is
    whatever its owner typed); the role follows the LMS's at every launch (`keep_role`: a roster sync, which
    leaves a known user's role as it is).
    """
    link = session.scalar(select(LtiUserLink).where(LtiUserLink.issuer == launch.issuer,
                                                    LtiUserLink.subject == launch.subject))
    if link is None:
        issued = create_user(session, _free_name(session, launch), launch.role.value)  # its API token is not shown
        user = session.scalars(select(User).where(User.name == issued.name)).one()
        session.add(LtiUserLink(issuer=launch.issuer, subject=launch.subject, user_id=user.id))
    else:
        found = session.get(User, link.user_id)
        if found is None:
            raise UnknownPlatform("the Labgrader account of this LMS user was deleted")
        user = found
        if keep_role:
            return user
        if user.disabled_at is not None:
            raise LaunchRefused("this account is disabled: ask your instructor")
        user.role = launch.role.value
    session.commit()
    return user


def landing_path(user: User, lab_id: str | None, known_labs: set[str]) -> str:
    """Where a launch lands: the lab's page for its role, or the role's home page."""
    if lab_id is not None and lab_id not in known_labs:
        raise NotFound(f"the LMS link names lab {lab_id!r}, which this server does not have: the instructor fixes "
                       "the link's custom parameter lab=")
    if user.is_staff:
        return f"/dashboard/labs/{lab_id}" if lab_id else "/dashboard"
    return f"/me?lab={lab_id}" if lab_id else "/me"
