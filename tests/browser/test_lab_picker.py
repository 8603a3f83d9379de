"""Every bundled lab in the browser: a student picks the perceptron lab from the upload form's list of four, submits
that lab's solution and sees it graded in place; the instructor sees the lab's page with its one check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lab_tasks import LABS_DIR
from tests.browser.conftest import log_in, shoot
from tests.conftest import LiveServer, make_server

MNIST = Path("/work/shared/datasets/mnist.npz")
GRADING_TIMEOUT_MS = 240_000


@pytest.fixture
def four_labs(tmp_path: Path) -> Iterator[LiveServer]:
    server = make_server(tmp_path)
    if not MNIST.is_file():
        pytest.fail(f"this test needs the MNIST arrays at {MNIST}")
    server.cli("datasets", "import", str(MNIST), "--as", "mnist.npz")
    server.start()
    yield server
    server.stop()


def test_a_student_picks_the_perceptron_lab_and_its_solution_is_graded(four_labs: LiveServer, page: Page) -> None:
    student, prof = four_labs.add_user("pia"), four_labs.add_user("prof", "instructor")
    log_in(page, four_labs, student, "%2Fme")
    picker = page.get_by_label("Lab", exact=True)
    titles = picker.locator("option").all_inner_texts()
    assert titles == ["Choose a lab…", "Handwritten digits, 8x8", "Classification with PyTorch/TensorFlow",
                      "Mountain Car: a policy network", "MNIST classification with our own framework",
                      "Multi-class classification with the perceptron"]
    assert picker.input_value() == ""  # several labs and nothing submitted yet: the student chooses
    page.get_by_label("Notebook (.ipynb)").set_input_files(str(LABS_DIR / "perceptron" / "starter.ipynb"))
    page.get_by_role("button", name="Submit").click()
    assert page.evaluate("document.getElementById('lab_id').validity.valueMissing")  # the browser asks for a lab
    picker.select_option(label="Multi-class classification with the perceptron")
    page.get_by_label("Notebook (.ipynb)").set_input_files(str(LABS_DIR / "perceptron" / "solutions"
                                                               / "solution_averaged.ipynb"))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/me?uploaded=*")
    submission_id = page.url.rsplit("=", 1)[1]
    expect(page.locator("#uploaded")).to_contain_text("for Multi-class classification with the perceptron")
    row = page.locator(f'tr[data-submission-id="{submission_id}"]')
    expect(row.locator("[data-role=status]")).to_have_text("graded", timeout=GRADING_TIMEOUT_MS)
    expect(row.locator("[data-role=score]")).to_have_text("100")
    expect(picker).to_have_value("perceptron")  # the form keeps offering the lab the student works on
    page.reload()
    expect(picker).to_have_value("perceptron")  # their latest submission's lab, also on a later visit
    shoot(page, "35-student-four-labs-perceptron-graded")

    page.context.clear_cookies()
    log_in(page, four_labs, prof, "%2Fdashboard%2Flabs%2Fperceptron")
    expect(page.get_by_role("heading", name="Multi-class classification with the perceptron")).to_be_visible()
    expect(page.get_by_text("mnist_perceptron_accuracy").first).to_be_visible()
    shoot(page, "36-instructor-perceptron-lab-page")
