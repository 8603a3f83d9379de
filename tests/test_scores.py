"""Every score is rounded and written one way (server.scores)."""

from __future__ import annotations

import pytest

from server.scores import format_score, round_score


@pytest.mark.parametrize(("value", "rounded", "text"), [
    (41.7714, 41.77, "41.77"), (46.5714, 46.57, "46.57"), (41.775, 41.78, "41.78"), (2.675, 2.68, "2.68"),
    (-0.0, 0.0, "0"), (-0.001, 0.0, "0"), (100.0, 100.0, "100"), (80.5, 80.5, "80.5"),
    (12345.678, 12345.68, "12345.68"),
])
def test_scores_round_to_two_decimals_half_away_from_zero_and_never_show_minus_zero(value: float, rounded: float,
                                                                                    text: str) -> None:
    assert round_score(value) == rounded
    assert str(round_score(value)) != "-0.0"
    assert format_score(value) == text


def test_no_score_is_a_dash() -> None:
    assert format_score(None) == "-"
