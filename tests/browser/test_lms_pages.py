"""Real Chromium on the LMS pages and the embedded launch: an instructor registers an LMS on the page and retries a
pending grade passback from the ledger page (desktop and 390 px); a launch shown inside the LMS's course page (an
iframe on another site: localhost around 127.0.0.1) offers a new window, which lands on the lab logged in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, shoot, shoot_both
from tests.conftest import make_server, until
from tests.server.lti.platform import LEARNER, LaunchRequest, LtiPlatformServer
from tests.server.lti.test_passback import _grade


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_an_instructor_registers_an_lms_and_retries_a_passback_on_the_pages(page: Page, tmp_path: Path) -> None:
    server = make_server(tmp_path, LABGRADER_LTI_PASSBACK_INTERVAL_S="0.3", LABGRADER_LTI_PASSBACK_BACKOFF_S="0.2")
    platform = LtiPlatformServer(server.url).start()
    db = server.workdir / "labgrader.db"
    try:
        server.cli(*platform.add_platform_args())
        server.start()
        log_in(page, server, server.add_user("prof", "instructor"))
        page.goto(f"{server.url}/dashboard/lti/platforms")
        expect(page.locator('code[data-value="login"]')).to_have_text(f"{server.url}/lti/login")
        page.get_by_label("Issuer (platform ID)").fill("https://moodle.uni.example")
        page.get_by_label("Client ID").fill("k2LmQ8")
        page.get_by_label("Deployment ID(s), one per line").fill("3\n4")
        page.get_by_label("Public key set URL").fill("https://moodle.uni.example/mod/lti/certs.php")
        page.get_by_label("Authentication request (OIDC auth) URL").fill("https://moodle.uni.example/mod/lti/auth.php")
        page.get_by_label("Access token URL").fill("https://moodle.uni.example/mod/lti/token.php")
        page.get_by_role("button", name="Register").click()
        expect(page.locator("#lti-done")).to_contain_text("Registered https://moodle.uni.example (2 deployment(s)")
        expect(page.locator("#platforms tbody tr")).to_have_count(3)
        page.goto(f"{server.url}/dashboard/lti/platforms")
        shoot_both(page, "lti-platforms")

        with httpx.Client(timeout=30) as browser:  # a student launches from the LMS; the LMS is down for a while
            action, fields = platform.launch_form(browser, LaunchRequest("lms-b1", [LEARNER], email="b1@uni.example",
                                                                         custom={"lab": "frameworks"}))
            assert browser.post(action, data=fields).status_code == 303
        platform.refuse_scores = True
        _grade(server, "b1@uni.example", [1.0, 2.0, 0.0, 0.0, 0.0], minutes=15)
        until("a failed send", lambda: _rows(db, "SELECT 1 FROM lti_grade_passbacks WHERE last_error != ''"))
        with sqlite3.connect(db) as conn:  # as after many failures: the next try is an hour off
            conn.execute("UPDATE lti_grade_passbacks SET next_attempt_at = datetime('now', '+1 hour')")
        platform.refuse_scores = False
        page.goto(f"{server.url}/dashboard/lti/passbacks")
        row = page.locator('#passbacks tr[data-student="b1@uni.example"]')
        expect(row.locator('[data-field="state"]')).to_have_text("pending")
        expect(row.locator('[data-field="error"]')).to_contain_text("answered 503")
        shoot_both(page, "lti-passbacks-pending")
        row.get_by_role("button", name="Retry now").click()
        expect(page.locator("#passback-done")).to_be_visible()
        until("the score in the LMS", lambda: platform.scores)
        page.goto(f"{server.url}/dashboard/lti/passbacks")
        state = page.locator('#passbacks tr[data-student="b1@uni.example"] [data-field="state"]')
        expect(state).to_contain_text("sent")
        shoot(page, "lti-passbacks-sent-desktop")
    finally:
        server.stop()
        platform.stop()


def test_a_launch_inside_the_lms_page_opens_in_a_new_window_logged_in(page: Page, tmp_path: Path) -> None:
    server = make_server(tmp_path)
    platform = LtiPlatformServer(server.url).start()
    try:
        server.cli(*platform.add_platform_args())
        server.start()
        page.goto(platform.course_url(LaunchRequest("framed-learner", [LEARNER], email="framed@uni.example",
                                                    custom={"lab": "frameworks"})))
        assert page.url.startswith("http://localhost:")  # the course page is another site than the tool's
        frame = page.frame_locator("iframe")
        opener = frame.get_by_role("link", name="Open the lab in a new window")
        expect(opener).to_be_visible()
        expect(frame.locator("body")).to_contain_text("inside another site's page")
        shoot(page, "lti-embedded-launch-offers-a-new-window")
        assert _rows(server.workdir / "labgrader.db", "SELECT count(*) FROM users WHERE name = 'framed@uni.example'") \
            == [(0,)]  # nothing happened inside the frame
        with page.context.expect_page() as opened:
            opener.click()
        window = opened.value
        window.wait_for_url(f"{server.url}/me?lab=frameworks")  # login, platform, auto-posted form, landing
        expect(window.locator("body")).to_contain_text("framed@uni.example")
        shoot(window, "lti-embedded-launch-new-window-landed")
    finally:
        server.stop()
        platform.stop()
