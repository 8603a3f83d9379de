"""Signed session cookies, their binding to the whole token digest, CSRF tokens and the secret key's origin."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.dashboard.sessions import (
    SESSION_MAX_AGE_S,
    CookiePolicy,
    CsrfRejected,
    PageSession,
    SessionMissing,
    check_binding,
    check_csrf,
    csrf_token,
    decode_session,
    encode_session,
    new_session,
)
from server.secret_key import SECRET_KEY_FILE, SecretKeyUnusable, resolve_secret_key
from server.settings import PUBLIC_OLD_DEFAULT_SECRET_KEY, Environment, Settings

KEY = "k" * 40
DIGEST = "ab" * 32
INVALID = "the session cookie is not valid: log in again"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_session_survives_the_round_trip_and_binds_the_whole_digest() -> None:
    session = new_session(KEY, 7, DIGEST, now_s=1000)
    decoded = decode_session(encode_session(session, KEY), KEY, now_s=1001)
    assert decoded == session
    assert check_binding(decoded, KEY, 7, DIGEST)
    assert DIGEST not in encode_session(session, KEY)  # the cookie never carries the digest itself
    for other in (DIGEST[:-1] + "c", "", DIGEST[:16]):
        assert not check_binding(decoded, KEY, 7, other)
    assert not check_binding(decoded, KEY, 8, DIGEST)  # another user's id with this binding
    assert new_session(KEY, 7, DIGEST).session_id != new_session(KEY, 7, DIGEST).session_id  # rotated at login


@pytest.mark.parametrize("cookie", [None, "", "no-dot", "a.b.c", "e30.AAAA", "é.é", "a" * 700 + ".b"])
def test_missing_or_malformed_cookies_are_refused(cookie: str | None) -> None:
    with pytest.raises(SessionMissing):
        decode_session(cookie, KEY)


def _signed(payload: object, key: str = KEY) -> str:
    body = _b64(json.dumps(payload).encode())
    sub = hmac.new(key.encode(), b"labgrader-session-cookie", hashlib.sha256).digest()
    return f"{body}.{_b64(hmac.new(sub, body.encode(), hashlib.sha256).digest())}"


GOOD = {"v": 2, "u": 7, "n": "A" * 43, "i": 1000, "g": 0, "b": "0" * 64}


@pytest.mark.parametrize("payload", [
    {**GOOD, "b": ""}, {**GOOD, "b": "0" * 16}, {**GOOD, "b": "0" * 65}, {**GOOD, "b": "Z" * 64},
    {**GOOD, "u": True}, {**GOOD, "u": "7"}, {**GOOD, "u": -1}, {**GOOD, "g": 1.0}, {**GOOD, "n": "short"},
    {**GOOD, "v": 1}, {k: v for k, v in GOOD.items() if k != "b"}, {**GOOD, "c": "attacker-csrf"}, [GOOD], "x",
    # the format before issue 20: a 16-character digest prefix (or an empty one) and the CSRF token in the payload
    {"u": 7, "t": "", "c": "attacker-csrf", "i": 1000, "g": 0},
])
def test_a_correctly_signed_but_malformed_payload_is_refused(payload: object) -> None:
    assert decode_session(_signed(GOOD), KEY, now_s=1001).user_id == 7  # the helper signs as the server does
    with pytest.raises(SessionMissing) as caught:
        decode_session(_signed(payload), KEY, now_s=1001)
    assert str(caught.value) == INVALID


def test_a_cookie_signed_with_another_key_or_edited_is_refused() -> None:
    cookie = encode_session(new_session(KEY, 7, DIGEST, now_s=1000), KEY)
    with pytest.raises(SessionMissing) as caught:
        decode_session(cookie, "another-key" * 4, now_s=1001)
    assert str(caught.value) == INVALID
    _body, mac = cookie.split(".")
    forged = encode_session(new_session(KEY, 1, DIGEST, now_s=1000), "attacker" * 5).split(".")[0] + "." + mac
    with pytest.raises(SessionMissing):
        decode_session(forged, KEY, now_s=1001)


def test_the_csrf_token_comes_from_the_key_not_from_the_cookie() -> None:
    session = new_session(KEY, 7, DIGEST, now_s=1000)
    token = csrf_token(KEY, session)
    assert len(token) == 43 and token not in encode_session(session, KEY)
    assert csrf_token("x" * 40, session) != token  # who does not hold the key cannot derive it
    assert csrf_token(KEY, new_session(KEY, 7, DIGEST, now_s=1000)) != token  # each session has its own
    after_logout = PageSession(7, session.session_id, session.binding, 1000, generation=1)
    assert csrf_token(KEY, after_logout) != token  # logging out ends the old CSRF token too


def test_an_old_session_expires() -> None:
    cookie = encode_session(new_session(KEY, 7, DIGEST, now_s=1000), KEY)
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
    assert CookiePolicy().secure(development, "https") is True  # a request that came over https
    assert CookiePolicy(cookie_secure=False).secure(development, "https") is False
    assert CookiePolicy().secure(production) is True
    assert CookiePolicy(cookie_secure=True).secure(development) is True
    assert CookiePolicy(cookie_secure=False).secure(production) is False


def test_production_refuses_a_missing_short_or_public_key() -> None:
    with pytest.raises(ValidationError, match="LABGRADER_SECRET_KEY must be set to a random value in production "
                                              r"\(at least 32 characters\)"):
        Settings(environment=Environment.PRODUCTION)
    for key in ("short", PUBLIC_OLD_DEFAULT_SECRET_KEY):
        for environment in Environment:
            with pytest.raises(ValidationError, match="LABGRADER_SECRET_KEY is"):
                Settings(environment=environment, secret_key=key)


def test_without_a_key_one_is_generated_once_kept_0600_and_reused(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="labgrader.secret_key"):
        first = resolve_secret_key(settings)
        second = resolve_secret_key(Settings(data_dir=tmp_path / "data"))
    path = tmp_path / "data" / SECRET_KEY_FILE
    assert first == second and len(first) >= 43 and first != resolve_secret_key(Settings(data_dir=tmp_path / "b"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [r.getMessage() for r in caplog.records if r.name == "labgrader.secret_key"][:1] == [
        f"no LABGRADER_SECRET_KEY configured: generated a random session key and kept it in {path} (mode 0600); "
        "set LABGRADER_SECRET_KEY to choose your own"]
    assert len([r for r in caplog.records if r.name == "labgrader.secret_key"]) == 2  # one per fresh data dir
    assert list(path.parent.iterdir()) == [path]  # no partial files left behind
    configured = "c" * 40
    assert resolve_secret_key(Settings(data_dir=tmp_path / "data", secret_key=configured)) == configured


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    resolve_secret_key(Settings(data_dir=tmp_path))
    (tmp_path / SECRET_KEY_FILE).chmod(0o644)
    with pytest.raises(SecretKeyUnusable) as caught:
        resolve_secret_key(Settings(data_dir=tmp_path))
    key_path = (tmp_path / SECRET_KEY_FILE).resolve()
    assert str(caught.value) == (f"{key_path} is readable by others (mode 644): run `chmod 600 {key_path}` and "
                                 "start again")
