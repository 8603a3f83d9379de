"""Regrade a whole lab after its threshold changed in lab.toml, and watch the progress in the browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, shoot, two_graded_students
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser
GRADING_TIMEOUT_MS = 240_000



def test_regrading_a_lab_after_a_threshold_change_shows_progress_and_new_scores(
        lab_server: tuple[LiveServer, Path], page: Page) -> None:
    server, toml = lab_server
    prof, _, ids = two_graded_students(server)

    # The instructor tightens early stopping from a patience of 3 epochs to 1, and restarts the server.
    server.stop()
    text = toml.read_text(encoding="utf-8")
    assert "patience = 3" in text
    toml.write_text(text.replace("patience = 3", "patience = 1"), encoding="utf-8")
    server.start()

    log_in(page, server, prof)
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    expect(page.get_by_role("cell", name="patience 1 epoch(s)")).to_be_visible()
    page.get_by_label("Which submissions").select_option("all")
    page.get_by_role("button", name="Regrade…").click()
    expect(page.locator("#regrade-count")).to_contain_text("This starts 2 grading job(s) (every submission)")
    page.get_by_role("button", name="Start 2 job(s)").click()
    expect(page.locator("#action-result")).to_have_text(
        "Queued 2 submission(s) for regrading; any older job still waiting for them was cancelled. Progress")
    expect(page.locator("#action-result")).to_be_focused()
    progress = page.locator("#lab-progress [data-role=progress-text]")
    expect(progress).not_to_contain_text("2 of 2 finished")
    shoot(page, "16-instructor-lab-regrade-in-progress")
    page.evaluate("window.__sameDocument = 'still here'")
    expect(progress).to_contain_text("2 of 2 finished (0 queued, 0 running, 2 graded, 0 error)",
                                     timeout=GRADING_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") == "still here"
    assert page.locator("#lab-progress progress").evaluate("p => [p.value, p.max]") == [2, 2]
    page.get_by_role("link", name="Reload the statistics").click()
    expect(page.locator("svg.histogram title").first).to_have_text(
        "Students per score band in Classification with PyTorch/TensorFlow")
    expect(page.get_by_role("link", name="100% (2 of 2)")).to_have_count(4)  # every check but Iris fails now
    shoot(page, "17-instructor-lab-regrade-done")
    page.goto(f"{server.url}/dashboard/submissions?lab=frameworks")
    expect(page.locator("[data-role=score]")).to_have_text(["20", "20"])
    page.goto(f"{server.url}/dashboard/submissions/{ids[0]}")
    early = page.locator("table.checks tbody tr", has_text="early_stopping")
    expect(early).to_contain_text("not passed")
    expect(early).to_have_class("fail")
    expect(page.locator("table.checks tbody tr").last).to_contain_text("iris_accuracy")  # the one pass comes last
    shoot(page, "18-instructor-submission-after-threshold-change")
