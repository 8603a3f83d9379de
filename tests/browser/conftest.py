"""Headless Chromium (the system's /usr/bin/chromium, driven by Playwright) and a screenshot folder CI prints."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from lab_tasks import LABS_DIR
from tests.browser.notebooks import iris_with_history
from tests.conftest import REPO, LiveServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="package")  # playwright's sync API holds a running event loop: end it with this package
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test; every dialog is recorded and dismissed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    yield opened
    context.close()


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/screenshots/ (CI lists that folder)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, server: LiveServer, token: str, next_path: str = "") -> None:
    """Fill in the login form like a person would."""
    page.goto(f"{server.url}/login" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def shoot_both(page: Page, name: str) -> None:
    """The page at desktop width and at a 390 px phone width (the same URL reloaded), then back to desktop."""
    shoot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_load_state()
    shoot(page, f"{name}-390px")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.set_viewport_size(DESKTOP)
    page.reload()
    assert overflow <= 1, f"{name}: the page is {overflow} px wider than a 390 px screen"


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose labs come from a copy of lab.toml that the test edits (rescore re-reads it; regrade restarts)."""
    labs = tmp_path / "labs"
    shutil.copytree(LABS_DIR / "frameworks", labs / "frameworks")  # lab.toml with the student files it names
    shutil.copy(LABS_DIR / "datasets.toml", labs)  # the course's MNIST declaration
    toml = labs / "frameworks" / "lab.toml"
    server = make_server(tmp_path, LABGRADER_LABS_DIR=str(labs))
    server.start()
    yield server, toml
    server.stop()


def two_graded_students(server: LiveServer) -> tuple[str, list[str], list[int]]:
    """An instructor's token, and two students who each submitted the Iris notebook with a history, graded 35."""
    prof, students = server.add_user("prof", "instructor"), [server.add_user(n) for n in ("kim", "lee")]
    ids = []
    for token in students:
        with server.client(token) as client:
            ids.append(client.post("/api/v1/labs/frameworks/submissions",
                                   files={"notebook": ("lab.ipynb", iris_with_history())}).json()["id"])
    for token, submission_id in zip(students, ids, strict=True):
        assert server.wait_for(token, submission_id)["score"] == 35.0
    return prof, students, ids
