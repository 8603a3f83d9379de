"""docs/lab-author.md carries the lab.toml reference exactly as the schema generates it."""

from __future__ import annotations

from pathlib import Path

from grader.spec.reference import END, START, reference_markdown, replace_block

PAGE = Path(__file__).resolve().parents[3] / "docs" / "lab-author.md"


def test_the_guide_reference_matches_the_schema() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert page == replace_block(page, reference_markdown()), (
        "docs/lab-author.md's reference is out of date: python -m grader.spec.reference --write docs/lab-author.md")


def test_the_reference_names_every_key_and_check_kind() -> None:
    block = reference_markdown()
    for key in ("`id`", "`cell_timeout_s`", "`penalty_per_day`", "`full_credit_at`", "`min_hidden_accuracy`",
                "`patience`", '`kind = "accuracy"`', '`kind = "overfitting_gap"`', '`kind = "early_stopping"`'):
        assert key in block
    assert START in PAGE.read_text(encoding="utf-8") and END in PAGE.read_text(encoding="utf-8")
