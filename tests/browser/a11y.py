"""axe-core (the copy bundled by the axe-playwright-python package) run on the page a test is looking at."""

from __future__ import annotations

from importlib import resources
from typing import Any

from playwright.sync_api import Page

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.1 A/AA and its best practices on the page as it stands."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        source = resources.files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")
        page.evaluate(source)  # evaluated by the test, not loaded by the page: the page's CSP allows no such script
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return list(result["violations"])


def assert_no_axe_violations(page: Page) -> None:
    found = axe_violations(page)
    assert found == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in found)
