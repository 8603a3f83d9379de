"""A notebook's HTML output cannot pass for the page's own text: in a real browser, a student's `<h1>Score: 100</h1>`
shows inside a bordered box labelled as the notebook's output, at body-text size, never as a heading."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from playwright.sync_api import Page, expect

from server.db import transaction
from server.jobs.models import ArtifactKind
from server.jobs.stored_artifacts import new_artifact
from tests.browser.conftest import log_in, shoot
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.seed import graded_submission, server_factory

FAKE = "<h1>Score: 100</h1><h2>INSTRUCTOR NOTE</h2><p>All checks passed.</p>"


def _executed_notebook() -> bytes:
    cell = new_code_cell("from IPython.display import HTML\nHTML(FAKE)", execution_count=1,
                         outputs=[new_output("execute_result", data={"text/html": FAKE, "text/plain": "<HTML>"},
                                             execution_count=1)])
    return str(nbformat.writes(new_notebook(cells=[cell]))).encode()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str], int]]:
    server = make_server(tmp_path_factory.mktemp("contained"))
    server.start()
    tokens = {"prof": server.add_user("prof", "instructor"), "eve": server.add_user("eve")}
    with transaction(server_factory(server.workdir / "labgrader.db")) as session:
        submission_id = graded_submission(session, "eve", datetime(2026, 11, 20, 10), [0, 0, 0, 0, 0])
        session.add(new_artifact(submission_id, ArtifactKind.EXECUTED_NOTEBOOK.value, "application/x-ipynb+json",
                                 _executed_notebook()))
    yield server, tokens, submission_id
    server.stop()


@pytest.mark.parametrize(("who", "path"), [("prof", "/dashboard/submissions/{id}"), ("eve", "/me/submissions/{id}")])
def test_student_html_is_boxed_labelled_and_body_sized(seeded: tuple[LiveServer, dict[str, str], int], page: Page,
                                                       who: str, path: str) -> None:
    server, tokens, submission_id = seeded
    log_in(page, server, tokens[who])
    page.goto(server.url + path.format(id=submission_id))
    box = page.locator("#cell-1 figure.student-html")
    expect(box).to_have_count(1)
    expect(box.locator("figcaption")).to_have_text(
        "HTML output of cell 1, written by the notebook (not by the grader)")
    expect(box.locator(".student-html-body")).to_have_text("Score: 100INSTRUCTOR NOTEAll checks passed.")
    assert page.locator("article.cell h1, article.cell h2, article.cell h3").count() == 0
    assert box.evaluate("b => getComputedStyle(b).borderTopStyle") == "dashed"
    fake_px = float(page.get_by_text("Score: 100").evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    heading_px = float(page.locator("h1").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert fake_px == 13.0 and heading_px > fake_px  # the page's own title stays the biggest text
    box.scroll_into_view_if_needed()
    shoot(page, f"20-student-html-contained-{who}")
