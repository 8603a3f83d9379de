"""Rescore a whole lab from stored outputs after its rules changed in lab.toml: seconds, no restart, no kernel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, shoot, two_graded_students
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser



def test_rescoring_a_lab_after_a_rule_change_applies_it_in_seconds(
        lab_server: tuple[LiveServer, Path], page: Page) -> None:
    server, toml = lab_server
    prof, _, _ = two_graded_students(server)

    log_in(page, server, prof)
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    expect(page.get_by_role("button", name="Regrade… (runs every notebook again: minutes)")).to_be_visible()
    # The instructor tightens early stopping from a patience of 3 epochs to 1; no restart.
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("patience = 3", "patience = 1"), encoding="utf-8")
    page.get_by_role("button", name="Rescore all from stored outputs (seconds)").click()
    result = page.locator("#action-result")
    expect(result).to_have_text(re.compile(
        r"^Rescored 2 submission\(s\) from their stored outputs in \d+\.\d\d s \(2 changed\); no notebook ran\.\s*$"))
    expect(result).to_be_focused()  # at the top, where the eye is; aria-live announces it
    assert result.evaluate("e => e.getBoundingClientRect().top") < 400
    expect(page.get_by_role("cell", name="patience 1 epoch(s)")).to_be_visible()
    expect(page.get_by_role("link", name="100% (2 of 2)")).to_have_count(4)  # every check but Iris fails now
    shoot(page, "34-instructor-lab-rescored")
    page.goto(f"{server.url}/dashboard/submissions?lab=frameworks")
    expect(page.locator("[data-role=score]")).to_have_text(["20", "20"])

    # A new model slot cannot be answered from the stored outputs: the page says so and offers the regrade.
    toml.write_text(toml.read_text(encoding="utf-8").replace('model = "iris_model"', 'model = "iris_net"'),
                    encoding="utf-8")
    page.goto(f"{server.url}/dashboard/labs/frameworks")
    page.get_by_role("button", name="Rescore all from stored outputs (seconds)").click()
    expect(page.locator("#action-result")).to_contain_text(
        "2 submission(s) could not be rescored: the lab now evaluates a model slot `iris_net` (Iris model) that was "
        "not evaluated then. Regrade them.")
    page.goto(f"{server.url}/dashboard/submissions?lab=frameworks")
    expect(page.locator("[data-role=score]")).to_have_text(["20", "20"])
