"""The parts a notebook page is made of (a cell, an output, the whole view) and the text cap they share: what
`notebook_view` builds and `output_budget` trims, so neither imports the other."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from markupsafe import Markup

TEXT_LIMIT_CHARS = 20_000
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True)
class OutputView:
    kind: Literal["stream", "text", "image", "html", "error", "omitted"]
    text: str = ""
    data_uri: str = ""
    label: str = ""
    html: Markup = field(default_factory=Markup)


@dataclass(frozen=True)
class CellView:
    index: int
    cell_type: str
    source: str
    execution_count: int | None
    outputs: list[OutputView] = field(default_factory=list)


@dataclass(frozen=True)
class NotebookView:
    cells: list[CellView]
    problem: str = ""


def capped_text(text: str, limit: int = TEXT_LIMIT_CHARS) -> str:
    """ANSI colour codes removed; beyond `limit` characters, the first and the last half of it with a marker."""
    clean = ANSI_ESCAPE.sub("", text)
    if len(clean) <= limit:
        return clean
    half = limit // 2
    return (clean[:half] + f"\n... ({len(clean) - 2 * half} characters in the middle not shown; download the "
            f"notebook for all of it) ...\n" + clean[-half:])

