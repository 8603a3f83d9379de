"""OpenID Connect authorization code flow (with PKCE) against one provider, and the user a login maps onto.

    DomainError (server.errors)
     └── SsoRefused (403)   the login failed a check, or maps onto no Labgrader user: the message says which

The callback is accepted only when its `state` was issued here less than `STATE_TTL_S` ago, never used, and matches
this browser's cookie; the code exchange (client secret + PKCE verifier) succeeds; the id_token is signed by a key of
the provider's JWKS, with the provider as `iss`, this client in `aud`, the login's `nonce`, and is not expired. The
user is the one whose Labgrader name equals the configured claim (`LABGRADER_SSO_USER_CLAIM`, default `email`, which
must then be verified by the provider); nobody is created: an instructor adds people first (roster or LMS).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.db import db_now
from server.errors import Forbidden
from server.settings import Settings
from server.sso.models import SsoLoginState
from server.users.models import User

STATE_TTL_S = 600
METADATA_CACHE_S = 300.0
HTTP_TIMEOUT_S = 10.0


class SsoRefused(Forbidden):
    pass


class ProviderMetadata:
    """The provider's discovery document and key set, fetched and cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any], dict[str, Any]] | None = None

    def get(self, issuer: str) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > METADATA_CACHE_S:
                try:
                    with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
                        metadata = client.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
                        jwks = client.get(metadata["jwks_uri"]).json()
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    raise SsoRefused(f"the sign-in provider {issuer} could not be reached ({type(exc).__name__}): "
                                     "try again later, or log in with your API token") from exc
                if metadata.get("issuer") != issuer:
                    raise SsoRefused(f"the sign-in provider at {issuer} calls itself {metadata.get('issuer')!r}: "
                                     "the operator fixes LABGRADER_SSO_ISSUER")
                self._cached = (time.monotonic(), metadata, jwks)
            return self._cached[1], self._cached[2]


def _client(settings: Settings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(settings.sso_client_id, settings.sso_client_secret, redirect_uri=redirect_uri,
                         scope="openid email profile", code_challenge_method="S256")


def begin_login(session: Session, settings: Settings, metadata: ProviderMetadata, redirect_uri: str,
                next_path: str) -> tuple[str, str]:
    """The provider's authorization URL to redirect to, and the state for this browser's cookie."""
    discovered, _ = metadata.get(settings.sso_issuer)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    session.add(SsoLoginState(state=state, nonce=nonce, code_verifier=verifier, next_path=next_path[:500],
                              created_at=db_now(session)))
    with _client(settings, redirect_uri) as client:
        url, _ = client.create_authorization_url(discovered["authorization_endpoint"], state=state, nonce=nonce,
                                                 code_verifier=verifier)
    return str(url), state


def _consume(session: Session, state: str, cookie_state: str | None) -> SsoLoginState:
    if not state or len(state) > 64:
        raise SsoRefused("the sign-in came back without a state: start again from the login page")
    if not cookie_state or not hmac.compare_digest(state.encode(), cookie_state.encode()):
        raise SsoRefused("the sign-in does not belong to this browser's login: start again from the login page")
    now = db_now(session)
    used = session.execute(update(SsoLoginState).where(
        SsoLoginState.state == state, SsoLoginState.used_at.is_(None),
        SsoLoginState.created_at >= now - timedelta(seconds=STATE_TTL_S)).values(used_at=now))
    row = session.get(SsoLoginState, state)
    session.commit()
    if used.rowcount != 1 or row is None:  # type: ignore[attr-defined]
        raise SsoRefused("this sign-in was already used or has expired: start again from the login page")
    return row


def complete_login(session: Session, settings: Settings, metadata: ProviderMetadata, redirect_uri: str, code: str,
                   state: str, cookie_state: str | None) -> tuple[User, str]:
    """The user of a provider's callback and where they were going; every check of the module docstring."""
    row = _consume(session, state, cookie_state)
    discovered, jwks = metadata.get(settings.sso_issuer)
    try:
        with _client(settings, redirect_uri) as client:
            token = client.fetch_token(discovered["token_endpoint"], code=code, code_verifier=row.code_verifier,
                                       timeout=HTTP_TIMEOUT_S)
    except Exception as exc:  # Authlib raises OAuthError, requests errors, ValueError for a non-JSON answer
        raise SsoRefused(f"the sign-in provider did not accept the login ({type(exc).__name__}): start again") from exc
    if "id_token" not in token:
        raise SsoRefused("the sign-in provider sent no id_token: the operator checks the client's scopes")
    claims = verify_id_token(str(token["id_token"]), jwks, settings.sso_issuer, settings.sso_client_id, row.nonce)
    if settings.sso_user_claim not in claims and discovered.get("userinfo_endpoint"):
        claims = {**_userinfo(str(discovered["userinfo_endpoint"]), str(token.get("access_token", "")),
                              str(claims["sub"])), **claims}
    return _user_for_claims(session, settings, claims), row.next_path


def _userinfo(url: str, access_token: str, subject: str) -> dict[str, Any]:
    """The userinfo claims (providers may keep scope claims such as `email` out of the id_token), which must be
    about the id_token's `sub`."""
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoRefused(f"the sign-in provider's userinfo could not be read ({type(exc).__name__}): start "
                         "again") from exc
    if not isinstance(body, dict) or body.get("sub") != subject:
        raise SsoRefused("the sign-in provider's userinfo is about another user: start again from the login page")
    return body


def verify_id_token(id_token: str, jwks: dict[str, Any], issuer: str, client_id: str, nonce: str) -> dict[str, Any]:
    """The claims of an id_token signed by the provider's key set for this client and login (joserfc)."""
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(jwks),  # type: ignore[arg-type]
                             algorithms=["RS256", "ES256", "PS256", "EdDSA"])
        jwt.JWTClaimsRegistry(leeway=30, iss={"essential": True, "value": issuer},
                              aud={"essential": True, "value": client_id}, nonce={"essential": True, "value": nonce},
                              sub={"essential": True}, exp={"essential": True}).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise SsoRefused(f"the sign-in's id_token is not valid ({exc}): start again from the login page") from exc
    claims = dict(decoded.claims)
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise SsoRefused("the sign-in's id_token was issued to another client: start again from the login page")
    return claims


def _user_for_claims(session: Session, settings: Settings, claims: dict[str, Any]) -> User:
    claim = settings.sso_user_claim
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise SsoRefused(f"the sign-in provider sent no {claim!r} for you: ask the operator which claim names users")
    if claim == "email" and claims.get("email_verified") is not True:
        raise SsoRefused(f"the sign-in provider has not verified the e-mail {value}: verify it there first")
    user = session.scalar(select(User).where(func.lower(User.name) == value.lower()))
    if user is None:
        raise SsoRefused(f"there is no Labgrader account named {value}: ask your instructor to add you")
    if user.disabled_at is not None:
        raise SsoRefused("this account is disabled: ask your instructor")
    return user
