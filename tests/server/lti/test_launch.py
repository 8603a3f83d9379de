"""LTI 1.3 launches from a real platform (lti1p3platform over HTTP on 127.0.0.1) into `labgrader serve`.

Every check of a launch has a token that fails it and must be refused with its own message: the platform signs a
genuine launch, the test alters one claim (re-signing with the platform's own key, so only that claim is wrong) and
posts it as the browser would.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import LiveServer
from tests.server.lti.platform import (
    CLIENT_ID,
    INSTRUCTOR,
    LEARNER,
    TEACHING_ASSISTANT,
    LaunchRequest,
    LtiPlatformServer,
    new_private_pem,
)

Pair = tuple[LiveServer, LtiPlatformServer]


def _launch(pair: Pair, launch: LaunchRequest,
            alter: Callable[[LtiPlatformServer, str], str] | None = None) -> tuple[httpx.Client, httpx.Response]:
    server, platform = pair
    client = httpx.Client(timeout=30)
    action, fields = platform.launch_form(client, launch)
    assert action == f"{server.url}/lti/launch"
    if alter is not None:
        fields["id_token"] = alter(platform, fields["id_token"])
    return client, client.post(action, data=fields, follow_redirects=False)


PROBLEM = re.compile(r'<p class="problem" role="alert">(.*?)</p>', re.S)


def _page_message(response: httpx.Response) -> str:
    """The one-line message of an error page."""
    found = PROBLEM.search(response.text)
    assert found is not None, response.text
    return html.unescape(found.group(1))


def test_learner_launch_logs_in_and_lands_on_the_lab(lti_pair: Pair) -> None:
    server, _ = lti_pair
    launch = LaunchRequest("learner-1", [LEARNER], name="Ada L", email="ada@uni.example",
                           custom={"lab": "frameworks"})
    client, response = _launch(lti_pair, launch)
    with closing(client):
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/me?lab=frameworks"
        page = client.get(f"{server.url}/me?lab=frameworks")
        assert page.status_code == 200
        assert "ada@uni.example" in page.text  # the new user's name: the e-mail (no preferred_username was sent)
        assert client.get(f"{server.url}/dashboard").status_code == 403
    again, second = _launch(lti_pair, launch)  # the same LMS user again: the same Labgrader user, not a new one
    with closing(again):
        assert second.status_code == 303
        listed = server.cli("lti", "platforms", "--json")
        assert CLIENT_ID in listed.stdout
    users = server.cli("users", "add", "ada@uni.example", "--role", "student", check=False)
    assert users.returncode == 2 and "already exists" in users.stderr


def test_instructor_launch_lands_on_the_instructor_lab_page(lti_pair: Pair) -> None:
    server, _ = lti_pair
    client, response = _launch(lti_pair, LaunchRequest("teacher-1", [INSTRUCTOR], email="prof@uni.example",
                                                      custom={"lab": "frameworks"}))
    with closing(client):
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/dashboard/labs/frameworks"
        assert client.get(f"{server.url}/dashboard/labs/frameworks").status_code == 200


def test_a_teaching_assistant_gets_the_ta_role_not_the_instructor_one(lti_pair: Pair) -> None:
    """Canvas lists a TA as Instructor with the TeachingAssistant sub-role: the TA role wins."""
    server, _ = lti_pair
    client, response = _launch(lti_pair, LaunchRequest("ta-1", [TEACHING_ASSISTANT, INSTRUCTOR],
                                                      email="ta@uni.example", custom={"lab": "frameworks"}))
    with closing(client):
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/dashboard/labs/frameworks"
        assert client.get(f"{server.url}/dashboard/labs/frameworks").status_code == 200  # TAs see the lab
        assert client.get(f"{server.url}/dashboard/roster").status_code == 403  # but not the roster


def test_a_launch_with_no_known_course_role_is_refused(lti_pair: Pair) -> None:
    client, response = _launch(lti_pair, LaunchRequest(
        "guest-1", ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"]))
    client.close()
    assert response.status_code == 403
    assert ("the launch gives you no role in this course that Labgrader knows (learner, instructor or teaching "
            "assistant): ask the course's instructor") in _page_message(response)


def test_a_link_to_an_unknown_lab_is_refused(lti_pair: Pair) -> None:
    client, response = _launch(lti_pair, LaunchRequest("learner-2", [LEARNER], custom={"lab": "nope"}))
    client.close()
    assert response.status_code == 404
    assert ("the LMS link names lab 'nope', which this server does not have: the instructor fixes the link's custom "
            "parameter lab=") in _page_message(response)


def _resigned(change: Callable[[dict[str, Any]], None]) -> Callable[[LtiPlatformServer, str], str]:
    """The genuine token with one claim changed, signed again with the platform's own key."""
    def alter(platform: LtiPlatformServer, token: str) -> str:
        claims = jwt.decode(token, options={"verify_signature": False})
        change(claims)
        return jwt.encode(claims, platform.private_pem, algorithm="RS256", headers={"kid": platform.kid})
    return alter


def _set(key: str, value: Any) -> Callable[[LtiPlatformServer, str], str]:
    return _resigned(lambda claims: claims.__setitem__(key, value))


def _tampered_payload(platform: LtiPlatformServer, token: str) -> str:
    """A learner's token whose payload now says instructor, with the signature left as it was."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [INSTRUCTOR]
    forged = jwt.encode(claims, platform.private_pem, algorithm="RS256", headers={"kid": platform.kid})
    header, body, _ = forged.split(".")
    return ".".join([header, body, token.split(".")[2]])


def _other_key(platform: LtiPlatformServer, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [INSTRUCTOR]
    return jwt.encode(claims, new_private_pem(), algorithm="RS256", headers={"kid": platform.kid})


def _hmac_with_public_key(platform: LtiPlatformServer, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, "a-secret-the-attacker-knows-32-bytes-long!", algorithm="HS256",
                      headers={"kid": platform.kid})


def _unknown_kid(platform: LtiPlatformServer, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, new_private_pem(), algorithm="RS256", headers={"kid": "attacker-key"})


REFUSALS = [
    ("payload altered (learner -> instructor)", _tampered_payload,
     "the launch's id_token signature does not verify with the platform's key set"),
    ("signed by another key under the platform's kid", _other_key,
     "the launch's id_token signature does not verify with the platform's key set"),
    ("HS256", _hmac_with_public_key, "the launch's id_token is signed with 'HS256'; LTI 1.3 requires RS256"),
    ("unknown kid", _unknown_kid,
     "the launch's id_token names key 'attacker-key', which is not in the platform's key set"),
    ("issuer", _set("iss", "https://evil.example"), "the launch's id_token was not issued by {issuer!r}"),
    ("audience", _set("aud", "someone-else"), f"the launch's id_token is not for client id {CLIENT_ID!r}"),
    ("azp", _set("azp", "someone-else"), f"the launch's id_token azp is not client id {CLIENT_ID!r}"),
    ("two audiences, no azp", _resigned(lambda c: (c.__setitem__("aud", [CLIENT_ID, "other"]), c.pop("azp"))),
     f"the launch's id_token azp is not client id {CLIENT_ID!r}"),
    ("expired", _set("exp", int(time.time()) - 3600), "the launch's id_token has expired: start it again from the LMS"),
    ("nonce", _set("nonce", "a-nonce-from-another-login"), "the launch's nonce is not the one this login issued"),
    ("no nonce", _resigned(lambda c: c.pop("nonce")),
     "the launch's id_token is not valid: Token is missing the \"nonce\" claim"),
    ("deployment", _set("https://purl.imsglobal.org/spec/lti/claim/deployment_id", "deployment-2"),
     "the launch comes from deployment 'deployment-2', which is not registered: an operator adds it with "
     "`labgrader lti add-platform`"),
    ("version", _set("https://purl.imsglobal.org/spec/lti/claim/version", "1.1"),
     "the launch is LTI version '1.1'; Labgrader speaks 1.3.0"),
    ("message type", _set("https://purl.imsglobal.org/spec/lti/claim/message_type", "LtiSubmissionReviewRequest"),
     "the launch's message type 'LtiSubmissionReviewRequest' is not supported"),
    ("roles (re-signed by the platform but no course role)",
     _set("https://purl.imsglobal.org/spec/lti/claim/roles", ["urn:lti:role:ims/lis/Guest"]),
     "the launch gives you no role in this course that Labgrader knows (learner, instructor or teaching "
     "assistant): ask the course's instructor"),
    ("no subject", _set("sub", ""), "the launch names no user (anonymous launches are not supported)"),
]


@pytest.mark.parametrize(("what", "alter", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_an_altered_token_is_refused(lti_pair: Pair, what: str, alter: Callable[[LtiPlatformServer, str], str],
                                     message: str) -> None:
    server, platform = lti_pair
    client, response = _launch(lti_pair, LaunchRequest(f"victim-{what}", [LEARNER]), alter)
    with closing(client):
        assert response.status_code == 403, response.text
        assert message.format(issuer=platform.issuer) in _page_message(response)
        assert "labgrader_session" not in response.cookies
        assert client.get(f"{server.url}/me", follow_redirects=False).status_code == 303  # to /login: nobody is in


def test_a_replayed_launch_is_refused(lti_pair: Pair) -> None:
    _server, platform = lti_pair
    with httpx.Client(timeout=30) as client:
        action, fields = platform.launch_form(client, LaunchRequest("learner-replay", [LEARNER]))
        assert client.post(action, data=fields).status_code == 303
        # the launch deleted its state cookie; a replay by someone who captured both the form and the cookie:
        replay = httpx.post(action, data=fields, headers={"Cookie": f"labgrader_lti_state={fields['state']}"})
        assert replay.status_code == 403
        assert ("this launch was already used or has expired: start it again from the LMS"
                in _page_message(replay))


def test_a_launch_posted_from_another_browser_is_refused(lti_pair: Pair) -> None:
    """The state cookie binds the launch to the browser that began the login (login CSRF)."""
    _server, platform = lti_pair
    with httpx.Client(timeout=30) as victim, httpx.Client(timeout=30) as attacker:
        action, fields = platform.launch_form(attacker, LaunchRequest("attacker", [INSTRUCTOR]))
        response = victim.post(action, data=fields)
        assert response.status_code == 403
        assert ("the launch's state does not match this browser's login: start it again from the LMS (if it opens "
                "inside the LMS page, set the tool to open in a new window)") in _page_message(response)


def test_login_initiation_from_an_unregistered_issuer_is_refused(lti_pair: Pair) -> None:
    server, _ = lti_pair
    response = httpx.get(f"{server.url}/lti/login", params={
        "iss": "https://unknown.example", "login_hint": "x", "target_link_uri": f"{server.url}/lti/launch"})
    assert response.status_code == 404
    assert ("no LTI platform is registered for issuer 'https://unknown.example': an operator adds it with "
            "`labgrader lti add-platform`") in html.unescape(response.text)


def test_login_initiation_to_a_foreign_target_is_refused(lti_pair: Pair) -> None:
    server, platform = lti_pair
    response = httpx.post(f"{server.url}/lti/login", data={
        "iss": platform.issuer, "login_hint": "x", "target_link_uri": "https://evil.example/steal"})
    assert response.status_code == 403
    assert ("target_link_uri must be this server's /lti/launch, not 'https://evil.example/steal': fix the tool's "
            "launch URL in the LMS") in html.unescape(response.text)
