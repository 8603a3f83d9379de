"""Instructors' decisions in a real Chromium, desktop and 390 px: an override with its comment lands at the top of the
page with focus moved there; a refused extension comes back on the same page, at its top; the student reads the
counted score, who decided and why, on their own page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page

from server.db import transaction
from tests.browser.conftest import DESKTOP, PHONE, log_in, shoot, shoot_both
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.seed import graded_submission, migrated_factory


@pytest.fixture
def course(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    server = make_server(tmp_path)
    tokens = {"prof": server.add_user("prof", "instructor"), "tess": server.add_user("tess", "ta"),
              "ada": server.add_user("ada")}
    with transaction(migrated_factory(server.workdir / "labgrader.db")) as session:
        graded_submission(session, "ada", datetime(2026, 11, 30, 9), [20, 20, 30, 15, 0])  # submission 1: 85
    server.start()
    yield server, tokens
    server.stop()


def _focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement ? document.activeElement.id : ''"))


def test_a_ta_overrides_a_check_and_the_student_sees_who_and_why(page: Page, course) -> None:  # type: ignore[no-untyped-def]
    server, tokens = course
    log_in(page, server, tokens["tess"], "/dashboard/submissions/1")
    assert page.get_by_role("button", name="Grant the extension").count() == 0  # instructors only
    page.get_by_label("Override").select_option("early_stopping")
    page.get_by_label("Score").fill("12.5")
    page.get_by_label("Comment").first.fill("history stopped at the minimum; the grader missed the restore")
    page.get_by_role("button", name="Set the score").click()
    page.wait_for_load_state()
    result = page.locator("#action-result")
    assert result.inner_text() == "The override is saved; the counted score below includes it."
    assert _focused_id(page) == "action-result"
    assert result.bounding_box()["y"] < 300  # type: ignore[index]
    assert page.locator("p.reason").inner_text() == (
        "Counted 97.5 / 100 for this submission: check early_stopping set to 12.5 by tess: history stopped at the "
        "minimum; the grader missed the restore.")
    shoot_both(page, "40-ta-override-saved-at-the-top")
    page.get_by_role("button", name="Log out").click()
    log_in(page, server, tokens["ada"], "/me/submissions/1")
    assert page.locator("p.reason").inner_text() == (
        "Counted 97.5 / 100 for this submission: check early_stopping set to 12.5 by tess: history stopped at the "
        "minimum; the grader missed the restore.")
    assert page.locator(".decisions li").inner_text().startswith(
        "check early_stopping set to 12.5 by tess: history stopped at the minimum; the grader missed the restore (")
    assert "graded 0; check early_stopping set to 12.5 by tess" in page.locator("span.override").inner_text()
    shoot_both(page, "41-student-sees-the-override-and-why")
    page.goto(f"{server.url}/me")
    grade = page.locator("article[aria-labelledby=lab-frameworks] .rules").inner_text()
    assert grade.endswith("Your grade\n97.5 / 100 from submission 1\ncheck early_stopping set to 12.5 by tess: history "
                          "stopped at the minimum; the grader missed the restore")
    shoot_both(page, "42-student-lab-grade-with-reason")


def test_a_refused_extension_comes_back_at_the_top_of_the_same_page(page: Page, course) -> None:  # type: ignore[no-untyped-def]
    server, tokens = course
    log_in(page, server, tokens["prof"], "/dashboard/submissions/1")
    page.get_by_label("ada's deadline (UTC)").fill("next friday")
    page.locator("#ex-comment").fill("flu, note seen")
    page.get_by_role("button", name="Grant the extension").click()
    page.wait_for_load_state()
    assert page.url == f"{server.url}/dashboard/submissions/1/extension"
    assert page.locator("#action-result").inner_text() == (
        "Deadline 'next friday' is not an ISO 8601 date-time such as 2026-12-01T23:59:00Z")
    assert _focused_id(page) == "action-result"
    shoot(page, "43-refused-extension-at-the-top-desktop")
    page.set_viewport_size(PHONE)
    shoot(page, "43-refused-extension-at-the-top-390px")
    page.set_viewport_size(DESKTOP)
    page.locator("#xc-comment").fill("joined the course after this lab")
    page.get_by_role("button", name="Excuse ada from this lab").click()
    page.wait_for_load_state()
    assert page.locator("#action-result").inner_text() == "The student is excused from this lab."
    assert page.locator("p.excused").inner_text() == (
        "ada is excused from this lab: no submission counts (excused by prof: joined the course after this lab).")
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    assert "excused: excused by prof: joined the course after this lab" in page.locator(
        "tr[data-student=ada]").inner_text()
    shoot_both(page, "44-lab-gradebook-with-an-excused-student")


def test_a_print_loop_notebook_fits_on_the_page(page: Page, course, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """874,000 characters in 252 outputs of one cell, as a student's training loop printed them: the page stays short
    (it was 402,923 px) and links the full executed notebook."""
    import json

    from server.jobs.models import ArtifactKind
    from server.jobs.stored_artifacts import new_artifact

    server, tokens = course
    outputs = [{"output_type": "stream", "name": "stdout", "text": f"batch {i:04d} loss {1 / (i + 1):.6f}".ljust(3467)
                + "\n"} for i in range(252)]
    nb = {"cells": [{"cell_type": "code", "source": "for batch in loader: print(loss)", "execution_count": 1,
                     "outputs": outputs}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with transaction(migrated_factory(server.workdir / "labgrader.db")) as session:
        session.add(new_artifact(1, ArtifactKind.EXECUTED_NOTEBOOK.value, "application/x-ipynb+json",
                                 json.dumps(nb).encode()))
    log_in(page, server, tokens["ada"], "/me/submissions/1")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 12_000, height
    assert page.locator("pre.output.stream").count() == 1
    assert page.get_by_role("link", name="Download the executed notebook").first.get_attribute("href") == \
        "/me/submissions/1/notebook.ipynb"
    shoot_both(page, "45-print-loop-notebook-capped")
