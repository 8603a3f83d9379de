"""The submissions table's query string -> a `SubmissionQuery`, with messages a person can act on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import urlencode

from server.dashboard.service import SUBMISSION_STATUSES, SortKey, SubmissionQuery
from server.errors import InvalidInput
from server.jobs.models import JobStatus

E = TypeVar("E", SortKey, JobStatus)

FILTER_FIELDS = ("lab", "student", "status", "min_score", "max_score", "sort", "order")
MAX_PAGE = 1_000_000  # 50 million rows deep: beyond any course, and its offset fits every database's integer


def whole_number(text: str, largest: int) -> int | None:
    """`text` as an integer from 1 to `largest`, or None; ASCII digits only ("²".isdigit() is true, int() fails)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(largest)):
        return None
    value = int(text)
    return value if 1 <= value <= largest else None


def _number(params: Mapping[str, str], name: str) -> float | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number, not {text!r}") from exc
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, not {text!r}")
    return value


def _choice(params: Mapping[str, str], name: str, enum: type[E], default: E | None,
            allowed: tuple[E, ...] | None = None) -> E | None:
    text = params.get(name, "").strip()
    if not text:
        return default
    choices = allowed if allowed is not None else tuple(enum)
    for choice in choices:
        if choice.value == text:
            return choice
    raise InvalidInput(f"{name} must be one of {', '.join(e.value for e in choices)}, not {text!r}")


def _page(params: Mapping[str, str]) -> int:
    text = params.get("page", "1").strip() or "1"
    page = whole_number(text, MAX_PAGE)
    if page is None:
        raise InvalidInput(f"page must be a whole number from 1 to {MAX_PAGE}, not {text!r}")
    return page


def parse_submission_query(params: Mapping[str, str], per_page: int = 50) -> SubmissionQuery:
    order = params.get("order", "desc").strip() or "desc"
    if order not in ("asc", "desc"):
        raise InvalidInput(f"order must be asc or desc, not {order!r}")
    return SubmissionQuery(
        lab_id=params.get("lab", "").strip() or None, student=params.get("student", "").strip()[:100] or None,
        status=_choice(params, "status", JobStatus, None, SUBMISSION_STATUSES), min_score=_number(params, "min_score"),
        max_score=_number(params, "max_score"),
        sort=_choice(params, "sort", SortKey, SortKey.CREATED) or SortKey.CREATED,
        descending=order == "desc", page=_page(params), per_page=per_page,
    )


def query_string(query: SubmissionQuery, **changes: object) -> str:
    """The query string of this table state with some fields changed (for sort links and pagination)."""
    values: dict[str, object] = {
        "lab": query.lab_id or "", "student": query.student or "", "status": query.status.value if query.status else "",
        "min_score": "" if query.min_score is None else f"{query.min_score:g}",
        "max_score": "" if query.max_score is None else f"{query.max_score:g}",
        "sort": query.sort.value, "order": "desc" if query.descending else "asc", "page": query.page,
    }
    values.update(changes)
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})
