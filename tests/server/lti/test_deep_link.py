"""Deep linking with a real platform: an instructor picks a lab, the platform verifies the tool's signed answer."""

from __future__ import annotations

import html
import re

import httpx
import jwt

from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.conftest import LiveServer
from tests.server.lti.platform import CLIENT_ID, INSTRUCTOR, LEARNER, LaunchRequest, LtiPlatformServer
from tests.server.lti.test_launch import _page_message

Pair = tuple[LiveServer, LtiPlatformServer]
LAB_FORM = re.compile(r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="JWT" value="([^"]+)">\s*'
                      r'<button type="submit" data-lab="([^"]+)">')


def test_an_instructor_places_a_lab_and_the_platform_accepts_the_signed_link(lti_pair: Pair) -> None:
    server, platform = lti_pair
    with httpx.Client(timeout=30) as browser:
        action, fields = platform.launch_form(browser, LaunchRequest("dl-teacher", [INSTRUCTOR], deep_link=True))
        picker = browser.post(action, data=fields)
        assert picker.status_code == 200, picker.text
        forms = {lab: (html.unescape(url), html.unescape(token)) for url, token, lab in LAB_FORM.findall(picker.text)}
        assert set(forms) == set(discover_labs(LABS_DIR))  # every bundled lab is offered
        assert browser.get(f"{server.url}/dashboard").status_code == 200  # and the instructor is logged in
        return_url, token = forms["frameworks"]
        assert return_url == f"{platform.issuer}/deep-link-return"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["iss"], claims["aud"]) == (CLIENT_ID, platform.issuer)
        assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == {"course": "course-1"}
        placed = browser.post(return_url, data={"JWT": token})
    assert placed.status_code == 200, placed.text
    spec = discover_labs(LABS_DIR)["frameworks"]
    assert platform.placed == [{
        "type": "ltiResourceLink", "title": spec.title, "url": f"{server.url}/lti/launch",
        "custom": {"lab": "frameworks"},
        "lineItem": {"scoreMaximum": spec.max_score, "label": spec.title, "resourceId": "frameworks"}}]


def test_a_student_cannot_place_a_lab(lti_pair: Pair) -> None:
    _, platform = lti_pair
    with httpx.Client(timeout=30) as browser:
        action, fields = platform.launch_form(browser, LaunchRequest("dl-student", [LEARNER], deep_link=True))
        refused = browser.post(action, data=fields)
    assert refused.status_code == 403
    assert _page_message(refused) == "only the course's instructors place labs in it"
