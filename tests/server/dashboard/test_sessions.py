"""Signed session cookies and CSRF tokens."""

from __future__ import annotations

import pytest

from server.dashboard.sessions import (
    SESSION_MAX_AGE_S,
    CookiePolicy,
    CsrfRejected,
    SessionMissing,
    check_csrf,
    decode_session,
    encode_session,
    new_session,
)
from server.settings import Environment, Settings

KEY = "test-secret-key"
DIGEST = "ab" * 32


def test_a_session_survives_the_round_trip() -> None:
    session = new_session(7, DIGEST, now_s=1000)
    decoded = decode_session(encode_session(session, KEY), KEY, now_s=1001)
    assert decoded == session
    assert decoded.token_digest == DIGEST[:16]
    assert len(decoded.csrf_token) >= 40


@pytest.mark.parametrize("cookie", [None, "", "no-dot", "a.b.c", "e30.AAAA"])
def test_missing_or_malformed_cookies_are_refused(cookie: str | None) -> None:
    with pytest.raises(SessionMissing):
        decode_session(cookie, KEY)


def test_a_cookie_signed_with_another_key_or_edited_is_refused() -> None:
    cookie = encode_session(new_session(7, DIGEST, now_s=1000), KEY)
    with pytest.raises(SessionMissing) as caught:
        decode_session(cookie, "another-key", now_s=1001)
    assert str(caught.value) == "the session cookie is not valid: log in again"
    _body, mac = cookie.split(".")
    forged = encode_session(new_session(1, DIGEST, now_s=1000), "attacker").split(".")[0] + "." + mac
    with pytest.raises(SessionMissing):
        decode_session(forged, KEY, now_s=1001)


def test_an_old_session_expires() -> None:
    cookie = encode_session(new_session(7, DIGEST, now_s=1000), KEY)
    decode_session(cookie, KEY, now_s=1000 + SESSION_MAX_AGE_S)
    with pytest.raises(SessionMissing) as caught:
        decode_session(cookie, KEY, now_s=1001 + SESSION_MAX_AGE_S)
    assert str(caught.value) == "the session has expired: log in again"


@pytest.mark.parametrize("submitted", [None, "", "wrong"])
def test_csrf_tokens_must_match(submitted: str | None) -> None:
    check_csrf("expected-token", "expected-token")
    with pytest.raises(CsrfRejected) as caught:
        check_csrf("expected-token", submitted)
    assert str(caught.value) == ("the form's CSRF token is missing or does not match this session: reload the "
                                 "page and submit again")


def test_cookies_are_secure_in_production_or_when_configured() -> None:
    development = Settings(environment=Environment.DEVELOPMENT)
    production = Settings(environment=Environment.PRODUCTION, secret_key="x" * 40)
    assert CookiePolicy().secure(development) is False
    assert CookiePolicy().secure(production) is True
    assert CookiePolicy(cookie_secure=True).secure(development) is True
    assert CookiePolicy(cookie_secure=False).secure(production) is False
