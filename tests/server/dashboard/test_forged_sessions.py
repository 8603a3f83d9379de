"""Forged session cookies against a real `labgrader serve` started as the README says (no secret configured): every
variant is refused, and the attack of issue 20 (open the dashboard, create an instructor, submit as another student
with a forged cookie) fails. Where a forgery needs the server's key, the test reads it from the data dir: the
binding to the whole token digest must hold even for someone who stole the key but not a token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import stat
import time
from collections.abc import Iterator

import httpx
import pytest

from server.dashboard.sessions import (
    SESSION_COOKIE,
    csrf_token,
    decode_session,
    encode_session,
    new_session,
    token_binding,
)
from server.secret_key import SECRET_KEY_FILE
from server.settings import PUBLIC_OLD_DEFAULT_SECRET_KEY
from tests.conftest import LiveServer, make_server, notebook_bytes
from tests.server.dashboard.pages import csrf_of, logged_in

SESSION_ENDED = "Your session has ended. Log in again and repeat the action."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def old_format_cookie(user_id: int, key: str = PUBLIC_OLD_DEFAULT_SECRET_KEY) -> str:
    """The cookie of the issue's attack: the old format, an empty digest, signed with the old public default key."""
    payload = {"u": user_id, "t": "", "c": "attacker-csrf", "i": int(time.time()), "g": 0}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac_key = hashlib.sha256(("labgrader-session:" + key).encode()).digest()
    return f"{body}.{_b64(hmac.new(mac_key, body.encode(), hashlib.sha256).digest())}"


def signed(key: str, **payload: object) -> str:
    """A cookie in the current format with any payload, signed with `key` as the server signs."""
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    sub = hmac.new(key.encode(), b"labgrader-session-cookie", hashlib.sha256).digest()
    return f"{body}.{_b64(hmac.new(sub, body.encode(), hashlib.sha256).digest())}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("forgery"))
    server.start()
    yield server
    server.stop()


def _rows(site: LiveServer, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(site.workdir / "labgrader.db") as conn:
        return list(conn.execute(sql).fetchall())


def _ids(site: LiveServer) -> dict[str, tuple[int, str]]:
    return {str(name): (int(str(uid)), str(digest))
            for name, uid, digest in _rows(site, "SELECT name, id, token_hash FROM users")}


@pytest.fixture(scope="module")
def people(site: LiveServer) -> dict[str, str]:
    return {"prof": site.add_user("prof", "instructor"), "ann": site.add_user("ann"), "ben": site.add_user("ben")}


def test_the_server_generated_its_own_key_mode_0600_and_said_so_once(site: LiveServer) -> None:
    path = site.workdir / "data" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 43
    assert site.log_path.read_text().count("no LABGRADER_SECRET_KEY configured: generated a random session key "
                                           f"and kept it in {path.resolve()} (mode 0600)") == 1


def _forgeries(site: LiveServer) -> dict[str, str]:
    """Every way of claiming to be `prof` without prof's token."""
    key = (site.workdir / "data" / SECRET_KEY_FILE).read_text().strip()
    ids = _ids(site)
    prof_id, prof_digest = ids["prof"]
    ann_id, ann_digest = ids["ann"]
    now = int(time.time())
    base = {"v": 2, "u": prof_id, "n": "A" * 43, "i": now, "g": 0}
    ann_session = new_session(key, ann_id, ann_digest)
    return {
        "the issue's cookie (old format, empty digest, public key)": old_format_cookie(prof_id),
        "old format signed with the server's key": old_format_cookie(prof_id, key),
        "current format, public old default key": encode_session(
            new_session(PUBLIC_OLD_DEFAULT_SECRET_KEY, prof_id, prof_digest), PUBLIC_OLD_DEFAULT_SECRET_KEY),
        "a foreign key": encode_session(new_session("f" * 43, prof_id, prof_digest), "f" * 43),
        "empty binding": signed(key, **base, b=""),
        "truncated binding": signed(key, **base, b=token_binding(key, prof_id, prof_digest)[:16]),
        "binding of the raw digest prefix": signed(key, **base, b=prof_digest[:16]),
        "ann's binding with prof's id": signed(key, **base, b=ann_session.binding),
        "binding of ann's digest for prof's id": signed(key, **base, b=token_binding(key, prof_id, ann_digest)),
        "ann's own cookie, payload edited to prof's id": (
            _b64(json.dumps({**base, "b": ann_session.binding}, separators=(",", ":")).encode()) + "."
            + encode_session(ann_session, key).split(".")[1]),
    }


def test_every_forged_cookie_is_refused_on_every_page(site: LiveServer, people: dict[str, str]) -> None:
    for name, cookie in _forgeries(site).items():
        with httpx.Client(base_url=site.url, cookies={SESSION_COOKIE: cookie}, timeout=60) as client:
            for path in ("/dashboard", "/dashboard/roster", "/me", "/dashboard/submissions"):
                response = client.get(path, follow_redirects=False)
                assert (response.status_code, response.headers.get("location")) == (
                    303, f"/login?next={path.replace('/', '%2F')}"), (name, path)


def test_the_forged_instructor_actions_of_the_issue_fail(site: LiveServer, people: dict[str, str]) -> None:
    before_users = _rows(site, "SELECT name FROM users ORDER BY id")
    for name, cookie in _forgeries(site).items():
        with httpx.Client(base_url=site.url, cookies={SESSION_COOKIE: cookie}, timeout=60) as client:
            created = client.post("/dashboard/roster/users",
                                  data={"csrf_token": "attacker-csrf", "name": "mallory", "role": "instructor"})
            submitted = client.post("/me/submissions", data={"csrf_token": "attacker-csrf", "lab_id": "frameworks"},
                                    files={"notebook": ("x.ipynb", notebook_bytes("1"), "application/json")})
        for response in (created, submitted):
            assert response.status_code == 401, name
            assert SESSION_ENDED in response.text, name
    assert _rows(site, "SELECT name FROM users ORDER BY id") == before_users
    assert _rows(site, "SELECT count(*) FROM submissions") == [(0,)]


def test_a_session_of_an_old_generation_or_an_old_token_is_refused(site: LiveServer, people: dict[str, str]) -> None:
    with logged_in(site, people["ben"]) as (client, csrf):
        copied = client.cookies[SESSION_COOKIE]
        assert client.get("/me").status_code == 200
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    with httpx.Client(base_url=site.url, cookies={SESSION_COOKIE: copied}, timeout=60) as replay:
        assert replay.get("/me", follow_redirects=False).status_code == 303  # logged out server-side
        refused = replay.post("/me/submissions", data={"csrf_token": csrf, "lab_id": "frameworks"})
        assert refused.status_code == 401
    with logged_in(site, people["ben"]) as (client, csrf):
        assert client.cookies[SESSION_COOKIE] != copied  # a new session id at every login
        with site.client(people["prof"]) as api:
            assert api.post("/api/v1/users/ben/reset-token").status_code == 200
        assert client.get("/me", follow_redirects=False).status_code == 303  # the token it was made with is gone


def test_a_real_session_works_and_its_csrf_token_is_the_servers(site: LiveServer, people: dict[str, str]) -> None:
    key = (site.workdir / "data" / SECRET_KEY_FILE).read_text().strip()
    with logged_in(site, people["prof"]) as (client, csrf):
        page = client.get("/dashboard")
        assert page.status_code == 200
        cookie = client.cookies[SESSION_COOKIE]
        assert csrf == csrf_of(page.text) == csrf_token(key, decode_session(cookie, key))
        assert csrf not in cookie
        wrong = client.post("/dashboard/roster/users", data={"csrf_token": "attacker-csrf", "name": "eve",
                                                              "role": "instructor"})
        assert wrong.status_code == 403
        assert "eve" not in {str(r[0]) for r in _rows(site, "SELECT name FROM users")}
