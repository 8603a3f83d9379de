"""Signed session cookies and CSRF tokens for the pages; no session table: a counter per user ends sessions.

A cookie is `base64url(json payload).base64url(hmac-sha256)`, keyed by a sub-key of the service's secret key
(`server.secret_key`). The payload is exactly `{"v": 2, "u": user id, "n": a random 256-bit session id, "i": issued
at, "g": the user's session generation, "b": the binding}`, where the binding is an HMAC of the user's *whole* token
digest under another sub-key: the server recomputes it from the database and compares all 64 characters in constant
time, so a re-issued token ends every session made with the old one, and the cookie never carries the digest itself.
Logging out bumps the generation in the database (server-side), which ends every session made before. The CSRF token
is not in the cookie: it is an HMAC of the session id under a third sub-key, so nobody without the key can derive
the CSRF token of any payload, forged or not.

    SessionError
     ├── SessionMissing     no cookie, or a cookie that is malformed, forged or expired: log in again
     └── CsrfRejected       a form came without this session's CSRF token
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

from pydantic import BaseModel

from server.settings import Environment, Settings

SESSION_COOKIE = "labgrader_session"
LOGIN_CSRF_COOKIE = "labgrader_login_csrf"
SESSION_MAX_AGE_S = 12 * 3600
COOKIE_VERSION = 2
MAX_COOKIE_CHARS = 600  # a real cookie is ~330 characters; anything longer is refused before it is decoded

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
_BINDING = re.compile(r"^[0-9a-f]{64}$")
_PAYLOAD_KEYS = {"v", "u", "n", "i", "g", "b"}
_INVALID = "the session cookie is not valid: log in again"


class SessionError(Exception):
    pass


class SessionMissing(SessionError):
    pass


class CsrfRejected(SessionError):
    pass


class CookiePolicy(BaseModel):
    """Whether page cookies are `Secure`: `Settings.cookie_secure` (`LABGRADER_COOKIE_SECURE=true|false`) overrides
    the default (Secure in production, and whenever the request came over https)."""

    cookie_secure: bool | None = None

    def secure(self, settings: Settings, scheme: str = "http") -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return settings.environment is Environment.PRODUCTION or scheme == "https"


@dataclass(frozen=True)
class PageSession:
    user_id: int
    session_id: str
    binding: str
    issued_at: int
    generation: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _subkey(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), f"labgrader-{purpose}".encode(), hashlib.sha256).digest()


def _mac(secret_key: str, body: str) -> str:
    return _b64(hmac.new(_subkey(secret_key, "session-cookie"), body.encode(), hashlib.sha256).digest())


def token_binding(secret_key: str, user_id: int, token_hash: str) -> str:
    """What a session carries of the user's token: a keyed digest of the whole token hash (64 hex characters)."""
    message = f"{user_id}:{token_hash}".encode()
    return hmac.new(_subkey(secret_key, "session-binding"), message, hashlib.sha256).hexdigest()


def csrf_token(secret_key: str, session: PageSession) -> str:
    """This session's CSRF token, derived from its random id with the server's key (never read from the cookie)."""
    message = f"{session.user_id}:{session.session_id}:{session.generation}".encode()
    return _b64(hmac.new(_subkey(secret_key, "csrf"), message, hashlib.sha256).digest())


def new_session(secret_key: str, user_id: int, token_hash: str, generation: int = 0,
                now_s: float | None = None) -> PageSession:
    """A fresh session (a new random id: sessions rotate at every login) for a user who just proved their token."""
    return PageSession(user_id=user_id, session_id=secrets.token_urlsafe(32),
                       binding=token_binding(secret_key, user_id, token_hash),
                       issued_at=int(now_s if now_s is not None else time.time()), generation=generation)


def encode_session(session: PageSession, secret_key: str) -> str:
    payload = {"v": COOKIE_VERSION, "u": session.user_id, "n": session.session_id, "i": session.issued_at,
               "g": session.generation, "b": session.binding}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret_key, body)}"


def _strict_int(value: object) -> int:
    if type(value) is not int or not 0 <= value < 2**53:
        raise ValueError("not a non-negative integer")
    return value


def _parse(body: str) -> PageSession:
    payload = json.loads(_unb64(body))
    if not isinstance(payload, dict) or set(payload) != _PAYLOAD_KEYS or payload["v"] != COOKIE_VERSION:
        raise ValueError("not a session payload of this version")
    session_id, binding = payload["n"], payload["b"]
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise ValueError("malformed session id")
    if not isinstance(binding, str) or not _BINDING.match(binding):
        raise ValueError("malformed binding")
    return PageSession(user_id=_strict_int(payload["u"]), session_id=session_id, binding=binding,
                       issued_at=_strict_int(payload["i"]), generation=_strict_int(payload["g"]))


def decode_session(cookie: str | None, secret_key: str, max_age_s: float = SESSION_MAX_AGE_S,
                   now_s: float | None = None) -> PageSession:
    """The session a cookie carries; `SessionMissing` when absent, forged, malformed or expired.

    The signature is checked first (constant time), so nothing of an unsigned payload is ever parsed."""
    if not cookie:
        raise SessionMissing("you are not logged in")
    if len(cookie) > MAX_COOKIE_CHARS or cookie.count(".") != 1 or not cookie.isascii():
        raise SessionMissing(_INVALID)
    body, mac = cookie.split(".")
    if not hmac.compare_digest(mac.encode(), _mac(secret_key, body).encode()):
        raise SessionMissing(_INVALID)
    try:
        session = _parse(body)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise SessionMissing(_INVALID) from exc
    now = now_s if now_s is not None else time.time()
    if not 0 <= now - session.issued_at <= max_age_s:
        raise SessionMissing("the session has expired: log in again")
    return session


def check_binding(session: PageSession, secret_key: str, user_id: int, token_hash: str) -> bool:
    """Whether the session was made with this user's current token (all 64 characters, constant time)."""
    expected = token_binding(secret_key, user_id, token_hash)
    return session.user_id == user_id and hmac.compare_digest(expected.encode(), session.binding.encode())


def check_csrf(expected: str | None, submitted: str | None) -> None:
    """Refuse a form whose hidden `csrf_token` field does not match this session's token."""
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfRejected("the form's CSRF token is missing or does not match this session: reload the page and "
                           "submit again")
