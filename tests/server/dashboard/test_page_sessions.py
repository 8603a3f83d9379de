"""The server-side session table against a real `labgrader serve`: logout, a token reset, revocation or disabling
end every session of the user on every device; minting one's own token keeps only the minting browser's session; a
session idle longer than `LABGRADER_SESSION_IDLE_MINUTES` ends; a validly signed cookie whose session the server
never started (or has ended) is refused; the table holds only digests of session ids."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.dashboard.sessions import SESSION_COOKIE, decode_session, encode_session, new_session
from server.secret_key import SECRET_KEY_FILE
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.pages import logged_in

SESSION_ENDED = "Your session has ended. Log in again and repeat the action."


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("page-sessions"))
    server.start()
    yield server
    server.stop()


def _rows(server: LiveServer, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        return conn.execute(sql, args).fetchall()


def _open_sessions(server: LiveServer, name: str) -> int:
    return int(_rows(server, "SELECT count(*) FROM page_sessions JOIN users ON users.id = page_sessions.user_id "
                             "WHERE users.name = ? AND ended_at IS NULL", name)[0][0])


def _refused(client: httpx.Client, csrf: str) -> None:
    """The session no longer opens a page, and a form posted with it gets the one-line page (nothing done)."""
    assert client.get("/me").status_code == 303
    posted = client.post("/me/submissions", data={"csrf_token": csrf, "lab_id": "frameworks"})
    assert posted.status_code == 401 and SESSION_ENDED in posted.text


def test_logout_ends_every_session_of_the_user_on_every_device(site: LiveServer) -> None:
    token = site.add_user("two-devices")
    with logged_in(site, token) as (laptop, laptop_csrf), logged_in(site, token) as (phone, phone_csrf):
        assert laptop.get("/me").status_code == phone.get("/me").status_code == 200
        assert _open_sessions(site, "two-devices") == 2
        assert laptop.post("/logout", data={"csrf_token": laptop_csrf}).status_code == 303
        assert _open_sessions(site, "two-devices") == 0
        _refused(phone, phone_csrf)
        with httpx.Client(base_url=site.url, cookies={SESSION_COOKIE: phone.cookies[SESSION_COOKIE]},
                          follow_redirects=False, timeout=60) as copy:  # a copy of the cookie elsewhere
            _refused(copy, phone_csrf)


@pytest.mark.parametrize("action", ["reset-token", "revoke", "disable"])
def test_a_token_reset_revocation_or_disabling_ends_every_session(site: LiveServer, action: str) -> None:
    prof = site.add_user(f"prof-{action}", "instructor")
    name = f"student-{action}"
    token = site.add_user(name)
    with logged_in(site, token) as (one, one_csrf), logged_in(site, token) as (two, two_csrf):
        assert _open_sessions(site, name) == 2
        with site.client(prof) as api:
            assert api.post(f"/api/v1/users/{name}/{action}").status_code == 200
        assert _open_sessions(site, name) == 0
        _refused(one, one_csrf)
        _refused(two, two_csrf)


def test_minting_ones_own_token_keeps_this_session_and_ends_the_others(site: LiveServer) -> None:
    token = site.add_user("minter")
    with logged_in(site, token) as (here, here_csrf), logged_in(site, token) as (there, there_csrf):
        minted = here.post("/account/token", data={"csrf_token": here_csrf})
        assert minted.status_code == 200 and "lg_" in minted.text
        assert here.get("/me").status_code == 200  # the minting browser got a new session
        assert _open_sessions(site, "minter") == 1
        _refused(there, there_csrf)


def test_a_signed_cookie_the_server_never_started_or_whose_row_is_gone_is_refused(site: LiveServer) -> None:
    """Even someone holding the signing key and a user's token digest (the binding) cannot make a session."""
    key = (site.workdir / "data" / SECRET_KEY_FILE).read_text().strip()
    site.add_user("victim-prof", "instructor")
    user_id, digest, generation = _rows(site, "SELECT id, token_hash, session_generation FROM users WHERE name = ?",
                                        "victim-prof")[0]
    forged = encode_session(new_session(key, int(user_id), str(digest), generation=int(generation)), key)
    with httpx.Client(base_url=site.url, cookies={SESSION_COOKIE: forged}, follow_redirects=False,
                      timeout=60) as client:
        assert client.get("/dashboard").status_code == 303
    token = site.add_user("row-gone")
    with logged_in(site, token) as (client, csrf):
        assert client.get("/me").status_code == 200
        with sqlite3.connect(site.workdir / "labgrader.db") as conn:
            conn.execute("DELETE FROM page_sessions WHERE user_id = (SELECT id FROM users WHERE name = 'row-gone')")
        _refused(client, csrf)


def test_the_table_holds_only_a_digest_of_each_session_id(site: LiveServer) -> None:
    key = (site.workdir / "data" / SECRET_KEY_FILE).read_text().strip()
    token = site.add_user("digested")
    with logged_in(site, token) as (client, _csrf):
        session_id = decode_session(client.cookies[SESSION_COOKIE], key).session_id
    stored = _rows(site, "SELECT id_digest FROM page_sessions JOIN users ON users.id = page_sessions.user_id "
                         "WHERE users.name = 'digested'")
    assert stored == [(hashlib.sha256(session_id.encode()).hexdigest(),)]
    dump = "\n".join(str(row) for row in _rows(site, "SELECT * FROM page_sessions"))
    assert session_id not in dump


def test_an_idle_session_ends_and_an_active_one_goes_on(tmp_path: Path) -> None:
    server = make_server(tmp_path, LABGRADER_SESSION_IDLE_MINUTES="0.1")  # 6 s idle; seen again every 1.5 s
    server.start()
    try:
        token = server.add_user("idler")
        with logged_in(server, token) as (client, csrf):
            deadline = time.monotonic() + 9  # longer than the idle timeout, with a page every second
            while time.monotonic() < deadline:
                assert client.get("/me").status_code == 200
                time.sleep(1)
            time.sleep(8)  # now idle for longer than 6 s
            _refused(client, csrf)
            assert _rows(server, "SELECT ended_at IS NOT NULL FROM page_sessions") == [(1,)]
    finally:
        server.stop()
