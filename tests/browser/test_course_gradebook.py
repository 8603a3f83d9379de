"""The course as instructors run it across labs, in a real Chromium at desktop width and at 390 px (issue 25):
the course gradebook with weights from course.toml and its CSV, a student's page, action results at the top of the
page they came from, printable token cards, the files that came with a submission, thresholds hidden until the
deadline. The course is written straight into the server's database, so every number is known in advance.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from grader import BUNDLE_CONTENT_TYPE, SubmittedFile, bundle
from grader.spec.lab import LateSubmission
from lab_tasks import LABS_DIR
from server.db import transaction
from server.exports.decisions import excuse
from server.jobs.models import ArtifactKind
from server.jobs.stored_artifacts import new_artifact
from tests.browser.a11y import assert_no_axe_violations
from tests.browser.conftest import DESKTOP, PHONE, log_in, shoot, shoot_both
from tests.conftest import make_server
from tests.server.dashboard.seed import graded_submission, server_factory, set_submission_rules, utc_now

pytestmark = pytest.mark.browser
WEIGHTS = "[weights]\nframeworks = 3\ndigits = 1\nown_framework = 0\nperceptron = 0\n"
FULL = [20, 20, 30, 15, 15]


def shoot_as_is(page: Page, name: str) -> None:
    """`shoot_both` for the answer to a form post: resized, not reloaded (a reload would post the form again)."""
    shoot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    shoot(page, f"{name}-390px")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.set_viewport_size(DESKTOP)
    assert overflow <= 1, f"{name}: the page is {overflow} px wider than a 390 px screen"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """ann: frameworks 100 submitted 2 days late (10% a day: 80), digits not submitted, a file with her notebook;
    ben: frameworks 50, excused from digits; digits shows its thresholds only after a deadline 3 days ahead."""
    root = tmp_path_factory.mktemp("course25")
    labs = root / "labs"
    for lab in ("frameworks", "digits", "own_framework", "perceptron", "environments"):
        shutil.copytree(LABS_DIR / lab, labs / lab)
    shutil.copy(LABS_DIR / "datasets.toml", labs)  # the course's MNIST declaration, shared by three of them
    now = utc_now()
    toml = labs / "frameworks" / "lab.toml"
    deadline = (now - timedelta(days=3)).isoformat() + "Z"
    rules = f'\n[submission]\ndeadline = "{deadline}"\npenalty_per_day = 0.1\n'
    toml.write_text(toml.read_text(encoding="utf-8") + rules, encoding="utf-8")
    (labs / "course.toml").write_text(WEIGHTS, encoding="utf-8")
    server = make_server(root, LABGRADER_LABS_DIR=str(labs))
    server.start()
    tokens = {"prof": server.add_user("prof", "instructor"), "tess": server.add_user("tess", "ta"),
              "ann": server.add_user("ann"), "ben": server.add_user("ben")}
    with transaction(server_factory(server.workdir / "labgrader.db")) as session:
        set_submission_rules(session, LateSubmission(deadline=(now + timedelta(days=3)).isoformat() + "Z",
                                                     check_details="after_deadline"), lab_id="digits")
        ids = {"ann": graded_submission(session, "ann", now - timedelta(days=1), FULL),
               "ben": graded_submission(session, "ben", now - timedelta(days=4), [20, 0, 15, 15, 0])}
        session.add(new_artifact(ids["ann"], ArtifactKind.SUBMITTED_FILES.value, BUNDLE_CONTENT_TYPE, bundle([
            SubmittedFile("my_digit.csv", b"pixel,value\n0,255\n"), SubmittedFile("helpers/plot.py", b"x = 1\n")])))
        excuse(session, "ben", "digits", "joined after the digits lab", "prof")
    yield {"server": server, "tokens": tokens, "ids": ids, "labs": labs}
    server.stop()


def test_the_gradebook_shows_weighted_totals_and_links_each_student_to_their_page(course: dict[str, Any],
                                                                                  page: Page) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["prof"], "/dashboard/gradebook")
    page.goto(f"{server.url}/dashboard/gradebook")
    expect(page.locator('th[data-lab="frameworks"] .weight')).to_have_text("weight 3")
    expect(page.locator('tr[data-student="ann"] [data-field=total]')).to_have_text("60%")  # 3 x 80% + 1 x 0%, / 4
    expect(page.locator('tr[data-student="ben"] [data-field=total]')).to_have_text("50%")  # digits excused
    expect(page.locator('tr[data-student="ann"] td[data-lab="frameworks"] .late')).to_have_text("2 d late, −20%")
    expect(page.locator('tr[data-student="ben"] td[data-lab="digits"]')).to_have_text("excused")
    assert_no_axe_violations(page)
    shoot_both(page, "h25-01-course-gradebook-totals")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the gradebook as CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "student,digits,frameworks,own_framework,perceptron,total_percent"
    assert lines[2] == "weight,1,3,0,0,"
    assert lines[3:] == ["ann,,80,,,60", "ben,EX,50,,,50"]

    page.get_by_role("link", name="ann", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ann student")
    expect(page.locator("[data-field=total]")).to_have_text("60%")
    frameworks = page.locator('article[data-lab="frameworks"]')
    counted = f"80 / 100 from submission {course['ids']['ann']}"
    expect(frameworks.locator("[data-field=counted]")).to_contain_text(counted)
    expect(frameworks.locator("[data-field=reason]")).to_have_text("2 day(s) late, 20% off")
    expect(page.locator('article[data-lab="digits"] [data-field=counted]')).to_have_text("not submitted")
    expect(page.locator(f'#student-submissions tr[data-submission-id="{course["ids"]["ann"]}"]')).to_contain_text(
        "counts")
    assert_no_axe_violations(page)
    shoot_both(page, "h25-02-student-page-instructor")


def test_a_ta_reads_a_students_page_with_decisions_but_no_roster_link(course: dict[str, Any], page: Page) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["tess"])
    page.goto(f"{server.url}/dashboard/students/ben")
    digits = page.locator('article[data-lab="digits"]')
    expect(digits.locator("[data-field=counted]")).to_have_text("excused")
    expect(digits.locator('li[data-kind="excuse"]')).to_contain_text("excused by prof: joined after the digits lab")
    expect(page.get_by_role("link", name="the roster")).to_have_count(0)
    shoot(page, "h25-03-student-page-ta")
    page.goto(f"{server.url}/dashboard/students/nobody")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    log_in(page, server, course["tokens"]["ann"])
    response = page.goto(f"{server.url}/dashboard/students/ben")
    assert response is not None and response.status == 403


def test_a_course_file_that_cannot_be_used_is_named_at_the_top_and_the_totals_wait(course: dict[str, Any],
                                                                                  page: Page) -> None:
    server, course_file = course["server"], course["labs"] / "course.toml"
    course_file.write_text("[weights]\nframeworks = -2\n", encoding="utf-8")
    try:
        log_in(page, server, course["tokens"]["prof"])
        page.goto(f"{server.url}/dashboard/gradebook")
        expect(page.locator("#course-file-problem")).to_have_text(
            f"The course file cannot be used, so no totals are shown: {course_file.resolve()}: the weight of "
            "'frameworks' must be a number >= 0, not -2")
        expect(page.locator("[data-field=total]")).to_have_count(0)
        expect(page.locator('tr[data-student="ann"] td[data-lab="frameworks"] [data-role=score]')).to_have_text("80")
        shoot(page, "h25-04-gradebook-course-file-refused")
        csv = page.request.get(f"{server.url}/dashboard/gradebook/export.csv")
        assert csv.status == 422 and "must be a number &gt;= 0, not -2" in csv.text()
    finally:
        course_file.write_text(WEIGHTS, encoding="utf-8")


def test_a_refused_rescore_and_a_rescore_result_land_at_the_top_focused(course: dict[str, Any], page: Page) -> None:
    server, toml = course["server"], course["labs"] / "frameworks" / "lab.toml"
    log_in(page, server, course["tokens"]["prof"])
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    good = toml.read_text(encoding="utf-8")
    toml.write_text(good.replace("penalty_per_day = 0.1", "penalty_per_day = 7"), encoding="utf-8")
    try:
        page.get_by_role("button", name="Rescore all from stored outputs (seconds)").click()
        result = page.locator("#action-result")
        expect(result.get_by_role("alert")).to_contain_text(
            "The lab's spec does not validate, so nothing was changed:")
        expect(result).to_be_focused()
        assert result.evaluate("e => e.getBoundingClientRect().top") < 300
        assert_no_axe_violations(page)
        shoot_as_is(page, "h25-05-lab-rescore-refused-at-top")
    finally:
        toml.write_text(good, encoding="utf-8")
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    page.get_by_role("button", name="Rescore all from stored outputs (seconds)").click()
    result = page.locator("#action-result")
    expect(result).to_contain_text("Rescored 0 submission(s) from their stored outputs")
    expect(result).to_contain_text("2 submission(s) could not be rescored")
    expect(result).to_be_focused()
    shoot(page, "h25-06-lab-rescore-result-at-top")


def test_new_tokens_come_with_a_printable_card_per_person(course: dict[str, Any], page: Page) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["prof"])
    page.goto(f"{server.url}/dashboard/roster")
    expect(page.get_by_role("link", name="ann", exact=True)).to_have_attribute("href", "/dashboard/students/ann")
    page.get_by_label("Name", exact=True).fill("cara")
    page.get_by_role("button", name="Add and show the token").click()
    card = page.locator('.token-card[data-user="cara"]')
    token = page.locator("#issued-tokens code.token").inner_text()
    assert token.startswith("lg_")
    expect(card).to_contain_text(f"Server {server.url} (log in there with the token)")
    expect(card.locator("pre")).to_have_text(
        f"labgrader submit NOTEBOOK.ipynb --lab LAB --server {server.url} --token {token}")
    expect(page.get_by_role("button", name="Print the token cards")).to_be_visible()
    assert_no_axe_violations(page)
    shoot_as_is(page, "h25-07-token-cards")
    page.emulate_media(media="print")
    expect(page.locator("header")).to_be_hidden()
    expect(page.get_by_role("heading", name="New tokens")).to_be_hidden()
    expect(card).to_be_visible()
    shoot(page, "h25-08-token-cards-print")
    page.emulate_media(media="screen")


def test_a_student_sees_and_downloads_the_files_of_their_submission_and_no_one_elses(course: dict[str, Any],
                                                                                     page: Page) -> None:
    server, ann_sub = course["server"], course["ids"]["ann"]
    log_in(page, server, course["tokens"]["ann"])
    page.goto(f"{server.url}/me/submissions/{ann_sub}")
    files = page.locator("#submitted-files li")
    expect(files).to_have_text(["my_digit.csv (18 bytes)", "helpers/plot.py (6 bytes)"])
    with page.expect_download() as download:
        page.get_by_role("link", name="my_digit.csv").click()
    assert download.value.suggested_filename == "my_digit.csv"
    assert Path(download.value.path()).read_bytes() == b"pixel,value\n0,255\n"
    assert_no_axe_violations(page)
    shoot_both(page, "h25-09-student-submitted-files")
    log_in(page, server, course["tokens"]["ben"])
    theirs = page.request.get(f"{server.url}/me/submissions/{ann_sub}/files/0")
    missing = page.request.get(f"{server.url}/me/submissions/999999/files/0")
    assert (theirs.status, missing.status) == (404, 404)
    assert theirs.text().replace(f"id {ann_sub}", "id N") == missing.text().replace("id 999999", "id N")
    log_in(page, server, course["tokens"]["prof"])
    page.goto(f"{server.url}/dashboard/submissions/{ann_sub}")
    expect(page.locator("#submitted-files li")).to_have_count(2)
    staff = page.request.get(f"{server.url}/me/submissions/{ann_sub}/files/1")
    assert (staff.status, staff.body()) == (200, b"x = 1\n")


def test_thresholds_wait_for_the_deadline_where_the_lab_says_so_and_upload_errors_land_at_the_top(
        course: dict[str, Any], page: Page, tmp_path: Path) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["ann"])
    page.goto(f"{server.url}/me")
    digits = page.locator('article[aria-labelledby="lab-digits"]')
    digits.locator("summary").click()
    expect(digits.locator("[data-field=details-hidden]")).to_have_text(
        "This lab shows each check's thresholds after your deadline; until then its title and points.")
    for item in digits.locator("li[data-check]").all():  # title, id and points; no thresholds
        assert re.fullmatch(r".+ \S+: \d+(\.\d+)? points", item.inner_text()), item.inner_text()
    frameworks = page.locator('article[aria-labelledby="lab-frameworks"]')
    frameworks.locator("summary").click()
    expect(frameworks.locator("li[data-check]").first).to_have_text(re.compile(r"points \(.+\)$"))  # shown
    with server.client(course["tokens"]["ann"]) as student, server.client(course["tokens"]["prof"]) as prof:
        mine = {lab["id"]: lab for lab in student.get("/api/v1/labs").json()}
        staff = {lab["id"]: lab for lab in prof.get("/api/v1/labs").json()}
    assert mine["digits"]["thresholds_hidden"] is True
    assert {c["id"]: c["thresholds"] for c in mine["digits"]["checks"]} == {c["id"]: {} for c in
                                                                            mine["digits"]["checks"]}
    assert staff["digits"]["thresholds_hidden"] is False and any(c["thresholds"] for c in staff["digits"]["checks"])

    bad = tmp_path / "not-a-notebook.ipynb"
    bad.write_text("hello")
    page.get_by_label("Lab", exact=True).select_option("frameworks")
    page.get_by_label("Notebook (.ipynb)").set_input_files(str(bad))
    page.get_by_role("button", name="Submit").click()
    top = page.locator("#action-result")
    expect(top.get_by_role("alert")).to_contain_text("Not submitted: ")
    expect(top).to_be_focused()
    assert top.evaluate("e => e.getBoundingClientRect().top") < 300
    expect(page.locator("#upload-error")).to_contain_text("Choose the notebook file again and resubmit.")
    assert_no_axe_violations(page)
    shoot_as_is(page, "h25-10-student-upload-refused-at-top")
