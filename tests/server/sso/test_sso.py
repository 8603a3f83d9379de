"""SSO against a real OpenID provider (npm `oidc-provider`, started by the test): users log in with the provider
onto their existing Labgrader account, mint their own API token, and every forged or replayed callback is refused."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, free_port, make_server
from tests.server.sso.provider import OidcProvider, sign_in, start_provider

CLIENT_ID, CLIENT_SECRET = "labgrader", "a-client-secret-for-the-tests"
ACCOUNTS = {
    "ada": {"email": "ada@uni.example", "email_verified": True, "name": "Ada"},
    "prof": {"email": "prof@uni.example", "email_verified": True},
    "mallory": {"email": "ada@uni.example", "email_verified": False},  # claims Ada's address, unverified
    "nobody": {"email": "nobody@uni.example", "email_verified": True},
}
PROBLEM = re.compile(r'<p class="problem" role="alert">(.*?)</p>', re.S)
TOKEN = re.compile(r'<code id="token">([^<]+)</code>')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, OidcProvider]]:
    tmp = tmp_path_factory.mktemp("sso")
    port = free_port()
    server = make_server(tmp, LABGRADER_SSO_ISSUER=f"http://127.0.0.1:{port}", LABGRADER_SSO_CLIENT_ID=CLIENT_ID,
                         LABGRADER_SSO_CLIENT_SECRET=CLIENT_SECRET)
    provider = start_provider(port, CLIENT_ID, CLIENT_SECRET, f"{server.url}/sso/callback", ACCOUNTS,
                              tmp / "provider.log")
    server.add_user("ada@uni.example", "student")
    server.add_user("prof@uni.example", "instructor")
    server.start()
    yield server, provider
    server.stop()
    provider.stop()


def _message(response: httpx.Response) -> str:
    found = PROBLEM.search(response.text)
    assert found is not None, response.text
    return html.unescape(found.group(1))


def test_a_student_logs_in_with_the_provider_and_mints_an_api_token(sso: tuple[LiveServer, OidcProvider]) -> None:
    server, _ = sso
    with httpx.Client(timeout=30) as browser:
        assert "Log in with your institution's account" in browser.get(f"{server.url}/login").text
        callback = sign_in(browser, f"{server.url}/sso/login?next=/me", "ada", server.url)
        landed = browser.get(callback, follow_redirects=False)
        assert landed.status_code == 303, _message(landed)
        assert landed.headers["location"] == "/me"
        assert "ada@uni.example" in browser.get(f"{server.url}/me").text
        assert browser.get(f"{server.url}/dashboard").status_code == 403

        form = browser.get(f"{server.url}/account/token")
        minted = browser.post(f"{server.url}/account/token", data={"csrf_token": CSRF.search(form.text).group(1)})
        assert minted.status_code == 200
        token = TOKEN.search(minted.text).group(1)
        assert browser.get(f"{server.url}/me").status_code == 200  # the page session goes on with the new token
    api = httpx.get(f"{server.url}/api/v1/submissions", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.json()["items"] == []


def test_minting_needs_the_session_csrf_token(sso: tuple[LiveServer, OidcProvider]) -> None:
    server, _ = sso
    with httpx.Client(timeout=30) as browser:
        browser.get(sign_in(browser, f"{server.url}/sso/login", "ada", server.url))
        refused = browser.post(f"{server.url}/account/token", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert _message(refused) == ("the form's CSRF token is missing or does not match this session: reload the page "
                                 "and submit again")


def test_an_instructor_lands_on_the_dashboard(sso: tuple[LiveServer, OidcProvider]) -> None:
    server, _ = sso
    with httpx.Client(timeout=30) as browser:
        landed = browser.get(sign_in(browser, f"{server.url}/sso/login", "prof", server.url), follow_redirects=False)
        assert landed.headers["location"] == "/dashboard"
        assert browser.get(f"{server.url}/dashboard").status_code == 200


@pytest.mark.parametrize(("login", "message"), [
    ("mallory", "the sign-in provider has not verified the e-mail ada@uni.example: verify it there first"),
    ("nobody", "there is no Labgrader account named nobody@uni.example: ask your instructor to add you"),
])
def test_logins_that_map_onto_no_account_are_refused(sso: tuple[LiveServer, OidcProvider], login: str,
                                                      message: str) -> None:
    server, _ = sso
    with httpx.Client(timeout=30) as browser:
        refused = browser.get(sign_in(browser, f"{server.url}/sso/login", login, server.url))
        assert refused.status_code == 403
        assert _message(refused) == message
        assert browser.get(f"{server.url}/me", follow_redirects=False).status_code == 303  # not logged in


def test_a_callback_opened_in_another_browser_is_refused(sso: tuple[LiveServer, OidcProvider]) -> None:
    """Login CSRF: an attacker's own sign-in must not log a victim into the attacker's account."""
    server, _ = sso
    with httpx.Client(timeout=30) as attacker, httpx.Client(timeout=30) as victim:
        callback = sign_in(attacker, f"{server.url}/sso/login", "ada", server.url)
        refused = victim.get(callback)
    assert refused.status_code == 403
    assert _message(refused) == ("the sign-in does not belong to this browser's login: start again from the login "
                                 "page")


def test_a_replayed_callback_is_refused(sso: tuple[LiveServer, OidcProvider]) -> None:
    server, _ = sso
    with httpx.Client(timeout=30) as browser:
        callback = sign_in(browser, f"{server.url}/sso/login", "ada", server.url)
        state = httpx.URL(callback).params["state"]
        assert browser.get(callback, follow_redirects=False).status_code == 303
    replay = httpx.get(callback, headers={"Cookie": f"labgrader_sso_state={state}"})
    assert replay.status_code == 403
    assert _message(replay) == "this sign-in was already used or has expired: start again from the login page"


def test_a_forged_code_is_refused(sso: tuple[LiveServer, OidcProvider]) -> None:
    server, _ = sso
    with httpx.Client(timeout=30) as browser:
        callback = httpx.URL(sign_in(browser, f"{server.url}/sso/login", "ada", server.url))
        forged = browser.get(callback.copy_set_param("code", "forged-code"))
    assert forged.status_code == 403
    assert _message(forged) == "the sign-in provider did not accept the login (OAuthError): start again"


def test_sso_is_off_without_a_provider(live_server: LiveServer, tmp_path: Path) -> None:
    response = httpx.get(f"{live_server.url}/sso/login")
    assert response.status_code == 403
    assert _message(response) == "single sign-on is not set up on this server: log in with your API token"
    assert "institution" not in httpx.get(f"{live_server.url}/login").text
