"""The dashboard as instructors and students read it, on a seeded course: gradebook, rules, feedback, analytics,
queue, roster lifecycle and polish, in a real Chromium at desktop width and at 390 px (issue 16).

The course is written straight into the server's database (dated submissions, a deadline, late work, jobs that
wait behind a job another host holds), so every number on these pages is known in advance.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from grader.spec.lab import LateSubmission
from server.db import transaction
from tests.browser.conftest import PHONE, log_in, shoot, shoot_both
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.seed import (
    add_lab_copy,
    graded_submission,
    queued_job,
    server_factory,
    set_submission_rules,
    utc_now,
)

pytestmark = pytest.mark.browser
LATE_LAB = "frameworks_b"
NAME_ERROR = "cell 3 raised `NameError`: name `mnist_multi_model` is not defined; define it before the last cell"


def seed_course(server: LiveServer) -> dict[str, Any]:
    """Seven students and an instructor, two labs (one deadline ahead, one passed), graded, late and queued work."""
    tokens = {"prof": server.add_user("prof", "instructor")}
    for name in ("ann", "ben", "cat", "dan", "eve", "gil", "hal"):
        tokens[name] = server.add_user(name)
    now = utc_now()
    ids: dict[str, int] = {}
    with transaction(server_factory(server.workdir / "labgrader.db")) as session:
        set_submission_rules(session, LateSubmission(deadline=(now + timedelta(days=3, hours=4)).isoformat() + "Z",
                                                     penalty_per_day=0.1, counts="latest"))
        add_lab_copy(session, LATE_LAB, "Classification, section B",
                     LateSubmission(deadline=(now - timedelta(days=3)).isoformat() + "Z", penalty_per_day=0.25))
        full = [20, 20, 30, 15, 15]
        ids["ann_100"] = graded_submission(session, "ann", now - timedelta(days=2), full)
        ids["ann_0"] = graded_submission(session, "ann", now - timedelta(days=1), [0, 0, 0, 0, 0], messages=[
            "Iris accuracy 0.33 is below 0.70: no credit", "MNIST data missing: `x_train` was never loaded",
            NAME_ERROR, "the overfitting gap needs the multi-layer network", "no per-epoch history in `history`"])
        ids["cat_100"] = graded_submission(session, "cat", now - timedelta(days=1), full)
        for who, acc in (("gil", "0.85"), ("hal", "0.88")):
            ids[who] = graded_submission(session, who, now - timedelta(hours=5), [20, 20, 0, 15, 15], messages=[
                "ok", "ok", f"multi-layer MNIST accuracy {acc} is below 0.90: no credit", "ok", "ok"])
        ids["ben_late"] = graded_submission(session, "ben", now - timedelta(days=1), [20, 20, 10, 15, 15],
                                            lab_id=LATE_LAB)
        ids["ann_late_lab"] = graded_submission(session, "ann", now - timedelta(days=4), [20, 10, 0, 15, 15],
                                                lab_id=LATE_LAB)
        ids["eve_running"] = queued_job(session, "eve", now - timedelta(seconds=40), running=True)
        ids["eve_first"] = queued_job(session, "eve", now - timedelta(seconds=30))
        ids["eve_second"] = queued_job(session, "eve", now - timedelta(seconds=20))
        ids["eve_regrade"] = queued_job(session, "eve", now - timedelta(days=1), queue="regrade", previous_score=70)
    return {"server": server, "tokens": tokens, "ids": ids}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = make_server(tmp_path_factory.mktemp("course"))
    server.start()
    yield seed_course(server)
    server.stop()


def _lab_table(page: Page) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for row in page.locator("#lab-gradebook tbody tr").all():
        cells = {c.get_attribute("data-field") or "": c.inner_text().strip()
                 for c in row.locator("td[data-field]").all()}
        rows[row.get_attribute("data-student") or ""] = cells
    return rows


def test_the_gradebook_pages_show_the_exports_numbers_per_student(course: dict[str, Any], page: Page) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["prof"])
    page.goto(f"{server.url}/dashboard/gradebook")
    matrix = page.locator("#gradebook")
    expect(matrix.locator("thead")).to_contain_text("Classification, section B")
    ben = matrix.locator("tr", has=page.get_by_role("rowheader", name="ben"))
    expect(ben.locator(f"td[data-lab={LATE_LAB}]")).to_contain_text("40 / 100")  # 80, two days late at 25%/day
    expect(ben.locator(f"td[data-lab={LATE_LAB}]")).to_contain_text("2 d late, −50%")
    expect(ben.locator("td[data-lab=frameworks]")).to_have_text("not submitted")
    expect(matrix.locator("tr", has=page.get_by_role("rowheader", name="ann")).locator(
        "td[data-lab=frameworks] [data-role=badge]")).to_have_class("badge band-low")  # a graded 0 is red
    shoot_both(page, "20-instructor-gradebook-roster-x-lab")

    page.goto(f"{server.url}/dashboard/labs/{LATE_LAB}")
    table = _lab_table(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Gradebook CSV").click()
    exported = {r["student"]: r for r in csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))}
    assert set(table) == set(exported)
    for student, row in exported.items():
        shown = table[student]
        if not row["submission_id"]:
            assert shown["submission_id"] in ("not submitted", "1 submission(s), none graded yet"), shown
            continue
        assert shown["submission_id"] == row["submission_id"]
        assert shown["days_late"] == row["days_late"]
        assert shown["raw_score"] == row["raw_score"]
        assert shown["score"].split(" / ")[0] == row["score"], (student, shown, row)
    assert (table["ben"]["raw_score"], table["ben"]["score"]) == ("80", "40 / 100 −50% 2 day(s) late, 50% off")
    assert exported["ben"]["reason"] == "2 day(s) late, 50% off"  # the page and the export give the same reason
    shoot_both(page, "21-instructor-lab-gradebook-late-lab")

    page.goto(f"{server.url}/dashboard")
    card = page.locator("section.card", has=page.get_by_role("heading", name="Classification with PyTorch/TensorFlow"))
    # students, not submissions: ann counts once (her latest, 0), cat 100, gil and hal 70 each, and eve's 70 that
    # is being regraded keeps counting until its new result
    expect(card.locator("[data-count=students]")).to_have_text("5 of 7")
    expect(card.locator("[data-count=mean]")).to_have_text("62.0 / 100")
    bars = card.locator("svg.histogram rect title")
    expect(bars.nth(0)).to_have_text("0-10: 1")
    expect(bars.nth(7)).to_have_text("70-80: 3")
    expect(bars.nth(9)).to_have_text("90-100: 1")
    expect(card.get_by_role("row", name=re.compile("Multi-layer"))).to_contain_text("1 / 4")
    shoot_both(page, "22-instructor-overview-students-histogram-queue")


def test_a_student_sees_the_rules_the_counted_submission_and_a_warning(course: dict[str, Any], browser: Any) -> None:
    server, ids = course["server"], course["ids"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York",
                                  locale="en-US")
    page = context.new_page()
    try:
        log_in(page, server, course["tokens"]["cat"])
        card = page.locator("article.card",
                            has=page.get_by_role("heading", name="Classification with PyTorch/TensorFlow"))
        expect(card.locator("time")).to_contain_text(re.compile(r"E[SD]T"))  # the viewer's zone, not UTC
        expect(card.locator("[data-countdown]")).to_have_text(re.compile(r"\(3 days (3|4) h left\)"))
        expect(card).to_contain_text("your latest submission made before the deadline counts")
        expect(card).to_contain_text("10% off per started day late")
        warning = page.locator("p.warning[data-effect-for=frameworks]")
        expect(warning).to_be_visible()
        expect(warning).to_have_text("Classification with PyTorch/TensorFlow: Your latest submission counts: a new "
                                     "one replaces your counted grade of 100 / 100, even if it scores lower.")
        expect(page.locator(f'tr[data-submission-id="{ids["cat_100"]}"]')).to_contain_text("counts toward your grade")
        shoot_both(page, "23-student-rules-and-replace-warning")
        page.get_by_label("Lab", exact=True).select_option(LATE_LAB)
        expect(warning).to_be_hidden()
    finally:
        context.close()


def test_a_student_sees_which_submission_counts_and_the_late_penalty(course: dict[str, Any], page: Page) -> None:
    server, ids = course["server"], course["ids"]
    log_in(page, server, course["tokens"]["ann"])
    page.goto(f"{server.url}/me/submissions/{ids['ann_100']}")
    expect(page.locator(".counts-line")).to_have_text(
        f"This submission does not count toward your grade: your latest submission made before the deadline counts, "
        f"which is submission {ids['ann_0']} (0 / 100).")
    page.goto(f"{server.url}/me/submissions/{ids['ann_0']}")
    expect(page.locator(".counts-line")).to_have_text("This submission counts toward your grade: 0 / 100.")
    log_in(page, server, course["tokens"]["ben"])
    page.goto(f"{server.url}/me/submissions/{ids['ben_late']}")
    expect(page.locator(".summary .warning")).to_have_text(
        "Submitted 2 day(s) after the deadline: a 50% late penalty applies, so this submission is worth 40 of its "
        "80 points.")
    shoot_both(page, "24-student-late-penalty-shown")


def test_feedback_puts_failures_first_links_cells_and_stacks_on_a_phone(course: dict[str, Any], page: Page) -> None:
    server, ids = course["server"], course["ids"]
    log_in(page, server, course["tokens"]["gil"])
    page.goto(f"{server.url}/me/submissions/{ids['gil']}")
    rows = page.locator("table.checks tbody tr")
    expect(rows.first).to_contain_text("multi-layer MNIST accuracy 0.85 is below 0.90: no credit")
    expect(rows.first).to_have_class("fail")
    expect(rows.nth(1)).to_have_class("pass")
    log_in(page, server, course["tokens"]["ann"])
    page.goto(f"{server.url}/me/submissions/{ids['ann_0']}")
    message = page.locator("table.checks tbody tr", has_text="NameError").locator("td.message")
    expect(message.get_by_role("link", name="cell 3")).to_have_attribute("href", "#cell-3")
    expect(message.locator("code")).to_have_text(["NameError", "mnist_multi_model"])
    page.set_viewport_size(PHONE)
    box = message.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert message.evaluate("td => getComputedStyle(td).display") == "block"  # a stacked card, not a table cell
    shoot(page, "25-student-feedback-cards-390px")
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, "25-student-feedback-desktop")


def test_check_analytics_sort_by_failing_students_and_group_their_messages(course: dict[str, Any],
                                                                           page: Page) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["prof"])
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    first = page.locator("#check-analytics tbody tr").first
    expect(first).to_contain_text("Multi-layer")  # ann, gil and hal fail it: 3 of 4
    expect(first).to_contain_text("75% (3 of 4)")
    first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Multi-layer")
    groups = page.locator("section.card")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).get_by_role("heading")).to_contain_text("2 student(s): multi-layer MNIST accuracy")
    expect(groups.nth(0).locator("ul.students a")).to_have_text(["gil", "hal"])
    expect(groups.nth(1).locator("ul.students a")).to_have_text(["ann"])
    expect(groups.nth(1).get_by_role("heading")).to_have_text(f"1 student(s): {NAME_ERROR.replace('`', '')}")
    shoot_both(page, "26-instructor-check-analytics-grouped")


def test_queue_position_elapsed_and_estimate_for_the_student_and_times_for_the_instructor(
        course: dict[str, Any], page: Page) -> None:
    server, ids = course["server"], course["ids"]
    log_in(page, server, course["tokens"]["eve"])
    page.goto(f"{server.url}/me/submissions/{ids['eve_second']}")
    line = page.locator(".summary [data-role=progress]")
    expect(line).to_contain_text("number 2 in the queue, waiting")
    expect(line).to_contain_text("results in about")
    page.goto(f"{server.url}/me")
    expect(page.locator(f'tr[data-submission-id="{ids["eve_running"]}"] [data-role=progress]')).to_contain_text(
        "running for", timeout=10_000)
    page.goto(f"{server.url}/me/submissions/{ids['eve_regrade']}")
    expect(page.locator(".summary [data-role=progress]")).to_contain_text(
        "Being regraded (the score shown stays until the new result): number 3 in the queue")  # behind 2 live jobs
    expect(page.locator(".summary [data-role=badge]")).to_have_text("70 / 100")
    page.goto(f"{server.url}/me")
    shoot_both(page, "27-student-queue-position")
    log_in(page, server, course["tokens"]["prof"])
    panel = page.locator("#queue-stats")
    expect(panel.locator("[data-count=queued-live]")).to_have_text("2")
    expect(panel.locator("[data-count=queued-regrade]")).to_have_text("1")
    expect(panel.locator("[data-count=running]")).to_have_text("1")
    expect(panel).to_contain_text("Wait, median / p95")
    expect(panel).to_contain_text("1 s / 1 s")  # seeded jobs waited 1 s and ran 5 s
    expect(panel).to_contain_text("5 s / 5 s")


def test_roster_lifecycle_reset_revoke_disable_delete_with_csv_and_audit(course: dict[str, Any], page: Page) -> None:
    server, tokens = course["server"], course["tokens"]
    log_in(page, server, tokens["prof"])
    page.goto(f"{server.url}/dashboard/roster")
    row = page.locator("tr[data-user=dan]")
    row.get_by_text("Actions for dan").click()
    shoot_both(page, "28-instructor-roster-actions")
    row = page.locator("tr[data-user=dan]")
    row.get_by_text("Actions for dan").click()
    row.get_by_role("button", name="Reset token").click()
    token = page.locator("code.token").inner_text()
    assert token.startswith("lg_") and token != tokens["dan"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these 1 token(s) as CSV").click()
    assert Path(download.value.path()).read_text() == (f"name,full_name,email,student_id,role,token\n"
                                                       f"dan,,,,student,{token}\n")
    shoot(page, "29-instructor-reset-token-shown-once")
    with server.client(tokens["dan"]) as client:
        assert client.get("/api/v1/submissions").status_code == 401  # the old token is gone
    with server.client(token) as client:
        assert client.get("/api/v1/submissions").status_code == 200

    page.goto(f"{server.url}/dashboard/roster")
    row = page.locator("tr[data-user=dan]")
    row.get_by_text("Actions for dan").click()
    row.get_by_role("button", name="Disable").click()
    expect(page.locator("#roster-done")).to_have_text("dan is disabled.")
    with server.client(token) as client:
        refused = client.get("/api/v1/submissions")
    assert (refused.status_code, refused.json()) == (403, {"detail": "this account is disabled: ask your instructor"})

    row = page.locator("tr[data-user=dan]")
    row.get_by_text("Actions for dan").click()
    row.get_by_role("button", name="Delete dan").click()  # without typing the name: refused, nothing lost
    expect(page.locator("#roster-error")).to_have_text(
        "to delete dan and all their submissions, type the name dan to confirm")
    row = page.locator("tr[data-user=dan]")
    row.get_by_text("Actions for dan").click()
    row.get_by_label("Type dan to delete them").fill("dan")
    row.get_by_role("button", name="Delete dan").click()
    expect(page.locator("#roster-done")).to_have_text("dan and their 0 submission(s) were deleted.")
    expect(page.locator("tr[data-user=dan]")).to_have_count(0)
    audit = page.locator("#audit li")
    expect(audit.nth(0)).to_contain_text("prof · delete · dan")
    expect(audit.nth(1)).to_contain_text("prof · disable · dan")
    expect(audit.nth(2)).to_contain_text("prof · reset-token · dan")
    shoot(page, "30-instructor-roster-audit")


def test_polish_docs_offline_pages_errors_and_focus(course: dict[str, Any], page: Page, tmp_path: Path) -> None:
    server, tokens = course["server"], course["tokens"]
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=20_000)
    assert outside == []
    shoot(page, "31-api-docs-offline")
    page.unroute("**/*")

    log_in(page, server, tokens["prof"])
    page.goto(f"{server.url}/dashboard/submissions?page=99")
    expect(page.locator("#result-count")).to_have_text(re.compile(r"\d+ submission\(s\) · page 1 of 1"))
    expect(page.locator("table.submissions tbody tr").first).to_contain_text("Classification")  # titles, not ids
    response = page.goto(f"{server.url}/dashboard/submissions/999999")
    assert response is not None and response.status == 404
    expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()  # an instructor's way back
    page.goto(f"{server.url}/dashboard")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineWidth")
    assert outline == "3px", outline
    assert page.locator("#announcer[aria-live=polite]").count() == 1

    log_in(page, server, tokens["hal"])
    bad = tmp_path / "not-a-notebook.ipynb"
    bad.write_text("hello")
    page.get_by_label("Lab", exact=True).select_option(LATE_LAB)
    page.get_by_label("Notebook (.ipynb)").set_input_files(str(bad))
    page.get_by_role("button", name="Submit").click()
    error = page.locator("#upload-error")
    expect(error).to_contain_text("Choose the notebook file again and resubmit.")
    expect(page.get_by_label("Lab", exact=True)).to_have_value(LATE_LAB)  # the form kept the choice
    expect(page.get_by_label("Notebook (.ipynb)")).to_have_attribute("aria-invalid", "true")
    shoot_both(page, "32-student-upload-error-inline")


def test_a_regrade_confirms_its_job_count_per_scope(course: dict[str, Any], page: Page) -> None:
    server = course["server"]
    log_in(page, server, course["tokens"]["prof"])
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    page.get_by_label("Which submissions").select_option("errors")
    page.get_by_role("button", name="Regrade…").click()
    expect(page.locator("#regrade-count")).to_have_text("No submission matches this scope: nothing to regrade.")
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    page.get_by_label("Which submissions").select_option("counted")
    page.get_by_role("button", name="Regrade…").click()
    expect(page.locator("#regrade-count")).to_contain_text(
        "This starts 5 grading job(s) (each student's counted submission)")
    shoot_both(page, "33-instructor-regrade-confirm")
