"""The pages in a real headless Chromium against a real `labgrader serve` that grades in sandboxed kernels."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, shoot, shoot_both
from tests.browser.notebooks import hostile, iris_with_history, student_outputs
from tests.conftest import LiveServer, make_server

pytestmark = pytest.mark.browser
GRADING_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("browser"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(site: LiveServer) -> dict[str, str]:
    return {name: site.add_user(name, role) for name, role in
            [("prof", "instructor"), ("sam", "student"), ("tia", "student")]}


def _submit(site: LiveServer, token: str, data: bytes) -> int:
    with site.client(token) as client:
        response = client.post("/api/v1/labs/frameworks/submissions", files={"notebook": ("lab.ipynb", data)})
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


@pytest.fixture(scope="module")
def graded(site: LiveServer, tokens: dict[str, str]) -> int:
    """A graded submission of sam's with a learning curve."""
    submission_id = _submit(site, tokens["sam"], iris_with_history())
    body = site.wait_for(tokens["sam"], submission_id)
    assert (body["status"], body["score"]) == ("graded", 35.0), body
    return submission_id


@pytest.fixture(scope="module")
def hostile_submission(site: LiveServer, tokens: dict[str, str]) -> int:
    submission_id = _submit(site, tokens["tia"], hostile())
    assert site.wait_for(tokens["tia"], submission_id)["status"] == "graded"
    return submission_id


def test_a_student_logs_in_uploads_and_watches_the_status_change_without_reloading(
        site: LiveServer, tokens: dict[str, str], page: Page, tmp_path: Path) -> None:
    page.goto(f"{site.url}/me")
    expect(page).to_have_url(f"{site.url}/login?next=%2Fme")
    shoot(page, "01-login")
    log_in(page, site, tokens["sam"], "%2Fme")
    expect(page.get_by_role("heading", name="My submissions")).to_be_visible()
    notebook = tmp_path / "iris.ipynb"
    notebook.write_bytes(iris_with_history())
    page.get_by_label("Lab", exact=True).select_option("frameworks")
    page.get_by_label("Notebook (.ipynb)").set_input_files(str(notebook))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/me?uploaded=*")
    submission_id = page.url.rsplit("=", 1)[1]
    expect(page.locator("#uploaded")).to_have_text(
        f"Submission {submission_id} for Classification with PyTorch/TensorFlow was received and is queued for "
        "grading. Its row below updates by itself.")
    page.evaluate("window.__sameDocument = 'still here'")
    status = page.locator(f'tr[data-submission-id="{submission_id}"] [data-role=status]')
    assert status.inner_text() in ("queued", "running")
    shoot(page, "02-student-submitted-queued")
    expect(status).to_have_text("graded", timeout=GRADING_TIMEOUT_MS)
    score = page.locator(f'tr[data-submission-id="{submission_id}"] [data-role=score]')
    expect(score).to_have_text("35")
    assert page.evaluate("window.__sameDocument") == "still here"  # updated in place, never reloaded
    # and told to screen readers through the polite live region
    expect(page.locator("#announcer")).to_have_text(f"Submission {submission_id} is graded: 35 of 100 points")
    shoot(page, "03-student-graded-live")


def test_a_student_sees_feedback_the_plot_and_the_notebook(site: LiveServer, tokens: dict[str, str],
                                                           graded: int, page: Page) -> None:
    log_in(page, site, tokens["sam"])
    page.get_by_role("link", name=str(graded), exact=True).click()
    expect(page.get_by_role("heading", name=f"Submission {graded}")).to_be_visible()
    rows = page.locator("table.checks tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.nth(0)).to_contain_text("not passed")  # failed checks come first
    expect(rows.nth(3)).to_contain_text("Iris")
    expect(rows.nth(3)).to_have_class("pass")
    # this site has no MNIST installed: the check says so instead of blaming the notebook
    expect(rows.nth(0)).to_contain_text("the MNIST data is not installed on this grader, so this check was not "
                                        "measured; this is not a fault of the notebook")
    plot = page.get_by_alt_text(f"Training and validation loss per epoch of submission {graded}")
    expect(plot).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", plot.element_handle()) > 100
    expect(page.locator("article.cell")).to_have_count(2)
    expect(page.locator("pre.stream").first).to_contain_text("final loss")
    expect(page.get_by_text("Cell errors")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the executed notebook").click()
    assert len(json.loads(Path(download.value.path()).read_text(encoding="utf-8"))["cells"]) == 2
    shoot(page, "04-student-submission-detail")


def test_a_student_cannot_open_instructor_pages_or_another_students_submission(
        site: LiveServer, tokens: dict[str, str], graded: int, page: Page) -> None:
    log_in(page, site, tokens["tia"])
    for path in ["/dashboard", "/dashboard/submissions", f"/dashboard/submissions/{graded}", "/dashboard/roster"]:
        response = page.goto(f"{site.url}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shoot(page, "05-student-refused-dashboard-403")
    response = page.goto(f"{site.url}/me/submissions/{graded}")
    assert response is not None and response.status == 404
    expect(page.get_by_text(f"no submission with id {graded}")).to_be_visible()
    shoot(page, "06-student-other-submission-404")
    expect(page.get_by_role("link", name="Submissions", exact=True)).to_have_count(0)


def test_the_instructor_sees_the_overview_table_and_detail_then_regrades(
        site: LiveServer, tokens: dict[str, str], graded: int, page: Page) -> None:
    log_in(page, site, tokens["prof"])
    expect(page).to_have_url(f"{site.url}/dashboard")
    histogram = page.get_by_role("img", name="Students per score band in Classification with PyTorch/TensorFlow")
    expect(histogram).to_be_visible()
    expect(page.get_by_role("cell", name="Iris network accuracy on held-out samples")).to_be_visible()
    shoot(page, "07-instructor-overview")
    page.get_by_role("link", name="Submissions", exact=True).click()
    page.get_by_label("Student").fill("sam")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#result-count")).to_contain_text("page 1 of 1")
    page.get_by_role("link", name="Score").click()
    expect(page.locator("th[aria-sort]")).to_contain_text("Score")
    shoot(page, "08-instructor-submissions-table")
    page.get_by_role("link", name=str(graded), exact=True).click()
    expect(page.get_by_role("heading", name=f"Submission {graded}")).to_be_visible()
    plot = page.get_by_alt_text(f"Training and validation loss per epoch of submission {graded}")
    expect(plot).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", plot.element_handle()) > 100
    expect(page.locator("dl.facts")).to_contain_text("Device")
    expect(page.locator("dl.facts")).to_contain_text("cpu")
    shoot(page, "09-instructor-submission-detail")
    page.get_by_role("button", name="Regrade this submission").click()
    expect(page.locator("tr.current")).to_contain_text("regrade")
    expect(page.locator(".summary [data-role=status]")).to_have_text("graded", timeout=GRADING_TIMEOUT_MS)
    expect(page.locator("tr.current")).to_contain_text("graded")
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    shoot(page, "10-instructor-after-regrade")


def test_the_instructor_downloads_each_export_and_it_parses(site: LiveServer, tokens: dict[str, str],
                                                           graded: int, page: Page) -> None:
    log_in(page, site, tokens["prof"])
    page.goto(f"{site.url}/dashboard/labs/frameworks")
    shoot(page, "11-instructor-lab-page")
    files = {}
    for link in ["Gradebook CSV", "Canvas CSV", "Gradescope results.json"]:
        with page.expect_download() as download:
            page.get_by_role("link", name=link).click()
        files[link] = Path(download.value.path()).read_text(encoding="utf-8")
        assert download.value.suggested_filename.startswith("frameworks-")
    gradebook = {r["student"]: r for r in csv.DictReader(io.StringIO(files["Gradebook CSV"]))}
    assert (gradebook["sam"]["score"], gradebook["sam"]["iris_accuracy"], gradebook["sam"]["early_stopping"]) == (
        "35", "20", "15")
    canvas = list(csv.reader(io.StringIO(files["Canvas CSV"])))
    assert canvas[1] == ["Points Possible", "", "", "", "", "100"]
    assert ["sam", "", "", "sam", "", "35"] in canvas
    results = {s["student"]: s["results"] for s in json.loads(files["Gradescope results.json"])["students"]}
    assert results["sam"]["score"] == 35
    assert [t["status"] for t in results["sam"]["tests"]] == ["passed", "failed", "failed", "failed", "passed"]


def test_the_roster_shows_a_new_token_once(site: LiveServer, tokens: dict[str, str], page: Page) -> None:
    log_in(page, site, tokens["prof"])
    page.goto(f"{site.url}/dashboard/roster")
    shoot(page, "12-instructor-roster")
    page.get_by_label("Name", exact=True).fill("uma")
    page.get_by_role("button", name="Add and show the token").click()
    token = page.locator("code.token").inner_text()
    assert token.startswith("lg_")
    shoot(page, "13-instructor-new-token")
    page.goto(f"{site.url}/dashboard/roster")
    expect(page.get_by_role("cell", name="uma", exact=True)).to_be_visible()
    assert token not in page.content()


def _assert_inert(page: Page, site: LiveServer) -> None:
    page.wait_for_timeout(1500)  # give any injected handler time to fire
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("Array.from(document.scripts).map(s => s.src)") == [f"{site.url}/assets/live.js"]
    assert page.locator("a[href^='javascript:'], [onload], [onerror], #injected, #jslink").count() == 0
    assert page.locator("article.cell img").count() == 0
    expect(page.get_by_text("<script>alert(6)</script><img src=x onerror=alert(7)>").first).to_be_visible()
    # HTML outputs pass through the sanitiser: their text stays, scripts, ids and links go
    expect(page.locator(".html-output .student-html-body").nth(0)).to_have_text("bold")
    expect(page.locator(".html-output .student-html-body").nth(1)).to_have_text("click me")
    assert page.locator(".html-output a, .html-output script, .html-output [id]").count() == 0
    expect(page.get_by_text("Output not shown here (image/svg+xml)")).to_be_visible()
    expect(page.get_by_text("Output not shown here (application/javascript)")).to_be_visible()
    expect(page.get_by_text("Output not shown here (image/png (not a valid image))")).to_be_visible()


def test_hostile_notebook_outputs_render_inert_for_the_instructor(site: LiveServer, tokens: dict[str, str],
                                                                   hostile_submission: int, page: Page) -> None:
    log_in(page, site, tokens["prof"])
    page.goto(f"{site.url}/dashboard/submissions/{hostile_submission}")
    _assert_inert(page, site)
    expect(page.get_by_role("heading", name="Cell errors (instructors only)")).to_be_visible()
    expect(page.locator("pre.traceback")).to_contain_text("ValueError: <img src=x onerror=alert(8)>")
    shoot(page, "14-instructor-hostile-notebook-inert")


def test_hostile_notebook_outputs_render_inert_for_the_student(site: LiveServer, tokens: dict[str, str],
                                                                hostile_submission: int, page: Page) -> None:
    log_in(page, site, tokens["tia"])
    page.goto(f"{site.url}/me/submissions/{hostile_submission}")
    _assert_inert(page, site)
    expect(page.get_by_text("Cell errors")).to_have_count(0)
    shoot(page, "15-student-hostile-notebook-inert")


def test_a_student_sees_their_plt_show_figure_a_pandas_table_and_the_end_of_a_long_output(
        site: LiveServer, tokens: dict[str, str], page: Page) -> None:
    submission_id = _submit(site, tokens["sam"], student_outputs())
    assert site.wait_for(tokens["sam"], submission_id)["status"] == "graded"
    log_in(page, site, tokens["sam"])
    page.goto(f"{site.url}/me/submissions/{submission_id}")
    figure = page.get_by_alt_text("figure from cell 1")
    expect(figure).to_have_count(1)  # plt.show() under the kernel's inline backend: one figure, not two
    assert page.evaluate("(img) => img.naturalWidth", figure.element_handle()) > 100
    table = page.locator("#cell-2 .html-output table")
    expect(table.locator("th").filter(has_text="val_accuracy")).to_have_count(1)
    expect(table.locator("td").first).to_have_text("0.91")
    assert table.evaluate("t => t.attributes.length") == 0  # pandas' border and class attributes are gone
    long = page.locator("#cell-3 pre.stream")
    expect(long).to_contain_text("characters in the middle not shown")
    expect(long).to_contain_text("THE END: loss 0.05")  # the tail survives, where the final numbers are
    shoot_both(page, "19-student-own-figure-table-long-output")
