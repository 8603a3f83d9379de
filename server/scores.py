"""How every score is rounded and written, in the API, the CLI, the pages and every export: 2 decimals, halves
away from zero (41.775 -> 41.78), never -0, and written without trailing zeros (100, 41.7, 41.77).

No dependencies: the CLI's client imports it without the grader.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

SCORE_DECIMALS = 2


def round_score(value: float) -> float:
    """A score as everything shows it: 2 decimals, halves rounded away from zero, never -0."""
    if not math.isfinite(value):
        return value
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0  # -0.0 + 0.0 is 0.0


def format_score(value: float | None) -> str:
    """A rounded score as text without trailing zeros: 100, 41.77, 80.5; "-" for none."""
    if value is None:
        return "-"
    return f"{round_score(value):.{SCORE_DECIMALS}f}".rstrip("0").rstrip(".")
