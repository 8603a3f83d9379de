"""Signed session cookies and CSRF tokens for the pages; no session table: a counter per user ends sessions.

A cookie is `base64url(json payload).base64url(hmac-sha256)` keyed by `settings.secret_key`. The payload names the
user, a fragment of their token digest (a re-issued token ends every session made with the old one), the user's
session generation (logging out bumps it in the database, which ends every session made before), the CSRF token of
this session and when it was issued.

    SessionError
     ├── SessionMissing     no cookie, or a cookie that does not verify: log in again
     └── CsrfRejected       a form came without this session's CSRF token
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from server.settings import Environment, Settings

SESSION_COOKIE = "labgrader_session"
LOGIN_CSRF_COOKIE = "labgrader_login_csrf"
SESSION_MAX_AGE_S = 12 * 3600
TOKEN_DIGEST_CHARS = 16


class SessionError(Exception):
    pass


class SessionMissing(SessionError):
    pass


class CsrfRejected(SessionError):
    pass


class CookiePolicy(BaseModel):
    """Whether page cookies are `Secure`: `Settings.cookie_secure` (`LABGRADER_COOKIE_SECURE=true|false`) overrides
    the default (Secure only in production)."""

    cookie_secure: bool | None = None

    def secure(self, settings: Settings) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return settings.environment is Environment.PRODUCTION


@dataclass(frozen=True)
class PageSession:
    user_id: int
    token_digest: str
    csrf_token: str
    issued_at: int
    generation: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: str, body: str) -> str:
    key = hashlib.sha256(("labgrader-session:" + secret_key).encode()).digest()
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def new_session(user_id: int, token_hash: str, now_s: float | None = None, generation: int = 0) -> PageSession:
    """A fresh session for a user who just proved their token."""
    return PageSession(user_id=user_id, token_digest=token_hash[:TOKEN_DIGEST_CHARS],
                       csrf_token=secrets.token_urlsafe(32), issued_at=int(now_s if now_s is not None else time.time()),
                       generation=generation)


def encode_session(session: PageSession, secret_key: str) -> str:
    payload = {"u": session.user_id, "t": session.token_digest, "c": session.csrf_token, "i": session.issued_at,
               "g": session.generation}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret_key, body)}"


def decode_session(cookie: str | None, secret_key: str, max_age_s: float = SESSION_MAX_AGE_S,
                   now_s: float | None = None) -> PageSession:
    """The session a cookie carries; `SessionMissing` when absent, forged, malformed or expired."""
    if not cookie or cookie.count(".") != 1:
        raise SessionMissing("you are not logged in")
    body, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(secret_key, body)):
        raise SessionMissing("the session cookie is not valid: log in again")
    try:
        payload = json.loads(_unb64(body))
        session = PageSession(user_id=int(payload["u"]), token_digest=str(payload["t"]),
                              csrf_token=str(payload["c"]), issued_at=int(payload["i"]),
                              generation=int(payload.get("g", 0)))
    except (ValueError, KeyError, TypeError, binascii.Error, ValidationError) as exc:
        raise SessionMissing("the session cookie is not valid: log in again") from exc
    now = now_s if now_s is not None else time.time()
    if not 0 <= now - session.issued_at <= max_age_s:
        raise SessionMissing("the session has expired: log in again")
    return session


def check_csrf(expected: str | None, submitted: str | None) -> None:
    """Refuse a form whose hidden `csrf_token` field does not match this session's token."""
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfRejected("the form's CSRF token is missing or does not match this session: reload the page and "
                           "submit again")
