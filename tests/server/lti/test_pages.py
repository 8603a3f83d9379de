"""The instructors' LMS pages against a real `labgrader serve` with a real platform: registering an LMS on the page
goes through the CLI's checks (one code path) and needs the session's CSRF token; refused input comes back as typed
with nothing stored; the passback ledger page shows each row and "retry now" makes a pending one due at once. The
login initiation's new-window fallback: a framed login or one whose cookie did not come back never reaches the
platform."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import time
from urllib.parse import urlencode

import httpx

from tests.conftest import LiveServer, until
from tests.server.dashboard.pages import logged_in
from tests.server.lti.platform import CLIENT_ID, DEPLOYMENT_ID, LEARNER, LaunchRequest, LtiPlatformServer
from tests.server.lti.test_passback import _grade

Pair = tuple[LiveServer, LtiPlatformServer]
FORM = {"issuer": "https://moodle.uni.example", "client_id": "k2Lm", "deployment_ids": "3\n4",
        "keyset_url": "https://moodle.uni.example/mod/lti/certs.php",
        "auth_url": "https://moodle.uni.example/mod/lti/auth.php",
        "token_url": "https://moodle.uni.example/mod/lti/token.php"}


def _rows(server: LiveServer, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        return conn.execute(sql, args).fetchall()


def _problem(response: httpx.Response) -> str:
    found = re.search(r'<p class="problem" role="alert"[^>]*>(.*?)</p>', response.text, re.S)
    assert found is not None, response.text[:500]
    return html.unescape(found.group(1))


def test_registering_an_lms_on_the_page_is_the_cli_registration(lti_pair: Pair) -> None:
    server, _platform = lti_pair
    with logged_in(server, server.add_user("page-admin", "instructor")) as (client, csrf):
        shown = client.get("/dashboard/lti/platforms")
        assert shown.status_code == 200
        for name, path in (("login", "/lti/login"), ("launch", "/lti/launch"), ("jwks", "/lti/jwks.json")):
            assert f'<code data-value="{name}">{server.url}{path}</code>' in shown.text  # to paste into the LMS
        assert 'href="/dashboard/lti/platforms"' in client.get("/dashboard/roster").text  # linked from the roster
        assert client.post("/dashboard/lti/platforms", data=FORM).status_code == 403  # no CSRF token: refused
        added = client.post("/dashboard/lti/platforms", data={**FORM, "csrf_token": csrf})
        assert added.status_code == 201, added.text[:500]
        listed = json.loads(server.cli("lti", "platforms", "--json").stdout)
        assert [(p["issuer"], p["client_id"], p["deployment_id"]) for p in listed if p["client_id"] == "k2Lm"] == [
            ("https://moodle.uni.example", "k2Lm", "3"), ("https://moodle.uni.example", "k2Lm", "4")]

        again = client.post("/dashboard/lti/platforms", data={**FORM, "deployment_ids": "5, 4", "csrf_token": csrf})
        assert again.status_code == 409
        assert _problem(again) == ("platform https://moodle.uni.example with client id k2Lm and deployment 4 is "
                                   "already registered (id 3)")
        bad = client.post("/dashboard/lti/platforms", data={**FORM, "issuer": "https://other.example",
                                                            "keyset_url": "ftp://x", "csrf_token": csrf})
        assert bad.status_code == 422
        assert _problem(bad) == "the public key set URL (--keyset-url) must be an http(s) URL, not 'ftp://x'"
        assert 'value="https://other.example"' in bad.text and 'value="ftp://x"' in bad.text  # nothing typed is lost
        cli = server.cli("lti", "add-platform", "--issuer", "x", "--client-id", "c", "--deployment-id", "d",
                         "--keyset-url", "ftp://x", "--auth-url", "https://a", "--token-url", "https://t", check=False)
        assert cli.stderr == f"error: {_problem(bad)}\n"  # the same check, word for word
    assert _rows(server, "SELECT deployment_id FROM lti_platforms WHERE client_id = 'k2Lm' ORDER BY id") == [
        ("3",), ("4",)]  # the refused "5" of the batch was not stored either
    assert _rows(server, "SELECT count(*) FROM lti_platforms WHERE issuer = 'https://other.example'") == [(0,)]


def test_the_ledger_page_shows_each_passback_and_retry_now_sends_a_pending_one(lti_pair: Pair) -> None:
    server, platform = lti_pair
    with httpx.Client(timeout=30) as browser:
        action, fields = platform.launch_form(browser, LaunchRequest("lms-ledger-1", [LEARNER],
                                                                     email="ledger@uni.example",
                                                                     custom={"lab": "frameworks"}))
        assert browser.post(action, data=fields).status_code == 303
    platform.refuse_scores = True
    _grade(server, "ledger@uni.example", [1.0, 1.0, 0.0, 0.0, 0.0], minutes=20)
    student = "(SELECT id FROM users WHERE name = 'ledger@uni.example')"
    until("a failed send", lambda: _rows(server, f"SELECT attempts FROM lti_grade_passbacks WHERE user_id = {student}"
                                                 " AND attempts >= 1 AND last_error != ''"))
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:  # as after many failures: the next try is far off
        conn.execute("UPDATE lti_grade_passbacks SET next_attempt_at = '2099-01-01 00:00:00' "
                     f"WHERE user_id = {student}")
    platform.refuse_scores = False
    sent_before = len(platform.scores)
    passback_id = _rows(server, f"SELECT id FROM lti_grade_passbacks WHERE user_id = {student}")[0][0]
    with logged_in(server, server.add_user("ledger-prof", "instructor")) as (client, csrf):
        page = client.get("/dashboard/lti/passbacks")
        assert page.status_code == 200
        row = re.search(rf'<tr data-passback="{passback_id}".*?</tr>', page.text, re.S)
        assert row is not None
        text = html.unescape(row.group(0))
        assert "ledger@uni.example" in text and ">pending<" in text and "answered 503" in text
        assert "2099-01-01T00:00:00Z" in text  # the next try, shown in local time by the page
        time.sleep(1.5)
        assert len(platform.scores) == sent_before  # not due: nothing sent
        assert client.post(f"/dashboard/lti/passbacks/{passback_id}/retry", data={}).status_code == 403  # no CSRF
        retried = client.post(f"/dashboard/lti/passbacks/{passback_id}/retry", data={"csrf_token": csrf})
        assert retried.status_code == 303 and retried.headers["location"] == "/dashboard/lti/passbacks?done=retry"
        until("the retried score in the LMS", lambda: len(platform.scores) > sent_before)
        until("the ledger says sent", lambda: _rows(
            server, f"SELECT status FROM lti_grade_passbacks WHERE user_id = {student}") == [("sent",)])
        again = client.post(f"/dashboard/lti/passbacks/{passback_id}/retry", data={"csrf_token": csrf})
        assert again.status_code == 409  # a sent row is not sent twice
        assert client.post("/dashboard/lti/passbacks/987654/retry", data={"csrf_token": csrf}).status_code == 404


def _login_params(server: LiveServer, platform: LtiPlatformServer) -> dict[str, str]:
    return {"iss": platform.issuer, "login_hint": "u1", "target_link_uri": f"{server.url}/lti/launch",
            "lti_message_hint": "h", "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT_ID}


def test_a_login_whose_cookie_did_not_come_back_offers_a_new_window_and_stops(lti_pair: Pair) -> None:
    server, platform = lti_pair
    params = _login_params(server, platform)
    with httpx.Client(timeout=30) as browser:
        first = browser.get(f"{server.url}/lti/login?{urlencode(params)}", follow_redirects=False)
        assert first.status_code == 302
        check = first.headers["location"]
        assert check.startswith("/lti/login?") and "lg_state=" in check
        state = browser.cookies["labgrader_lti_state"]
        assert check.endswith(urlencode({"lg_state": state}))
        second = browser.get(f"{server.url}{check}", follow_redirects=False)  # the cookie came back: to the LMS
        assert second.status_code == 302 and second.headers["location"].startswith(f"{platform.issuer}/authorize?")
    for cookies in ({}, {"labgrader_lti_state": "another-state"}):  # blocked, or another login's
        with httpx.Client(timeout=30, cookies=cookies) as blocked:
            page = blocked.get(f"{server.url}{check}", follow_redirects=False)
        assert page.status_code == 200
        assert "did not keep Labgrader&#39;s login cookie" in page.text
        link = re.search(r'id="open-new-window" href="([^"]+)" target="_blank" rel="noopener"', page.text)
        assert link is not None and html.unescape(link.group(1)) == f"/lti/login?{urlencode(params)}"
        assert "frame-ancestors *" in page.headers["content-security-policy"]
        assert "x-frame-options" not in page.headers


def test_a_framed_login_offers_a_new_window_but_refuses_what_a_login_refuses(lti_pair: Pair) -> None:
    server, platform = lti_pair
    params = _login_params(server, platform)
    framed = httpx.get(f"{server.url}/lti/login?{urlencode(params)}", headers={"Sec-Fetch-Dest": "iframe"})
    assert framed.status_code == 200 and "inside another site" in framed.text
    assert "set-cookie" not in framed.headers  # no state is made for a login that cannot finish here
    foreign = httpx.get(f"{server.url}/lti/login?{urlencode({**params, 'iss': 'https://evil.example'})}",
                        headers={"Sec-Fetch-Dest": "iframe"})
    assert foreign.status_code == 404
    assert httpx.get(f"{server.url}/login").headers["x-frame-options"] == "DENY"  # every other page stays unframed
