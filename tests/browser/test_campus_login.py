"""Real Chromium through the campus logins: an LTI 1.3 launch from a real platform (lti1p3platform) lands on the lab
logged in; an SSO login at a real OpenID provider (npm oidc-provider) lands on the student's page."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from tests.browser.conftest import shoot
from tests.conftest import free_port, make_server
from tests.server.lti.platform import LEARNER, LaunchRequest, LtiPlatformServer
from tests.server.sso.provider import start_provider


def test_an_lti_launch_lands_on_the_lab_logged_in(page: Page, tmp_path: Path) -> None:
    server = make_server(tmp_path)
    platform = LtiPlatformServer(server.url).start()
    try:
        server.cli(*platform.add_platform_args())
        server.start()
        page.goto(platform.start_url(LaunchRequest("browser-learner", [LEARNER], email="hopper@uni.example",
                                                   custom={"lab": "frameworks"})))
        page.wait_for_url(f"{server.url}/me?lab=frameworks")  # login initiation, platform, auto-posted form, landing
        assert page.locator("#lab_id").input_value() == "frameworks"
        assert "hopper@uni.example" in page.content()
        shoot(page, "lti-launch-student-page")
    finally:
        server.stop()
        platform.stop()


def test_an_sso_login_lands_on_the_student_page(page: Page, tmp_path: Path) -> None:
    port = free_port()
    server = make_server(tmp_path, LABGRADER_SSO_ISSUER=f"http://127.0.0.1:{port}", LABGRADER_SSO_CLIENT_ID="lg",
                         LABGRADER_SSO_CLIENT_SECRET="a-client-secret-for-the-tests")
    provider = start_provider(port, "lg", "a-client-secret-for-the-tests", f"{server.url}/sso/callback",
                              {"lovelace": {"email": "lovelace@uni.example", "email_verified": True}},
                              tmp_path / "provider.log")
    try:
        server.add_user("lovelace@uni.example", "student")
        server.start()
        page.goto(f"{server.url}/login")
        page.get_by_role("link", name="Log in with your institution's account").click()
        page.locator("input[name=login]").fill("lovelace")
        page.locator("input[name=password]").fill("any password")
        page.locator("button[type=submit]").first.click()
        page.get_by_role("button", name="Continue").click()  # the provider's consent
        page.wait_for_url(f"{server.url}/me")
        assert "lovelace@uni.example" in page.content()
        shoot(page, "sso-login-student-page")
    finally:
        server.stop()
        provider.stop()
