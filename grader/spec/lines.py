"""Where in a lab.toml each schema error lives: its key as a person writes it (`checks[2].full_credit_at`) and line.

It knows nothing of the schema itself (`grader.spec.lab` imports it), so a new field or check kind needs nothing here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

Path_ = tuple[str | int, ...]
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_PLACED = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): ")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


@dataclass(frozen=True)
class SpecProblem:
    """One error in a lab.toml: the key (`checks[2].full_credit_at`), its line (1-based) and what is wrong."""

    path: Path
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.key}: {self.message}"


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)]


def key_lines(text: str) -> dict[Path_, int]:
    """The line of every table header and `key = value` in a TOML text, by its path (`("checks", 2, "points")`)."""
    lines: dict[Path_, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    table: Path_ = ()
    in_string = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string:
            if raw.count(in_string) % 2 == 1:
                in_string = ""
            continue
        header = _HEADER.match(raw)
        if header and not _KEY.match(raw):
            names = tuple(_parts(header.group(2)))
            # `[datasets.source]` after the second `[[datasets]]` is ("datasets", 1, "source")
            table = ()
            for position, name in enumerate(names[:-1]):
                table = (*table, name)
                if names[:position + 1] in counts:
                    table = (*table, counts[names[:position + 1]] - 1)
            table = (*table, names[-1])
            if header.group(1) == "[[":
                index = counts.get(names, 0)
                counts[names] = index + 1
                table = (*table, index)
            lines.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key:
            lines.setdefault((*table, *_parts(key.group(1))), number)
            rest = raw[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
    return lines


def _locate(loc: tuple[int | str, ...], lines: dict[Path_, int], missing: bool) -> tuple[str, int]:
    """The key as a person writes it and the best line for a pydantic error location.

    Locations pass through a discriminated union's tag (`("checks", 2, "accuracy", "points")`); elements that name
    nothing in the file are left out of the key unless the error is a missing field (the last one)."""
    prefixes = {p[:i] for p in lines for i in range(1, len(p) + 1)}
    path: Path_ = ()
    shown = ""
    for position, element in enumerate(loc):
        candidate = (*path, element)
        if candidate in prefixes or (missing and position == len(loc) - 1):
            path = candidate
            shown += f"[{element}]" if isinstance(element, int) else (f".{element}" if shown else str(element))
    line = 1
    for end in range(len(path), 0, -1):
        under = [n for p, n in lines.items() if p[:end] == path[:end]]  # an array of tables starts at its first
        if under:
            line = min(under)
            break
    return shown or "(top level)", line


def validation_problems(toml: Path, text: str, exc: ValidationError) -> list[SpecProblem]:
    """Every error of a failed validation of `text` (the contents of `toml`), by line."""
    lines = key_lines(text)
    errors = exc.errors(include_url=False)
    failed = {tuple(e["loc"][:1]) for e in errors if len(e["loc"]) > 1}
    problems = []
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in failed:
            continue  # pydantic's echo of items that failed on their own: those are reported
        loc = tuple(error["loc"])
        if error["type"].startswith("union_tag") and "discriminator" in error.get("ctx", {}):
            loc = (*loc, str(error["ctx"]["discriminator"]).strip("'"))  # point at the `kind = ...` line
        message = error["msg"].removeprefix("Value error, ")
        placed = _PLACED.match(message) if len(loc) <= 1 else None
        if placed:  # a whole-spec rule that names its key: `checks[2].dataset: ...`
            loc = tuple(int(part) if part.isdigit() else part for part in re.findall(r"[a-z_]+|\d+", placed.group(1)))
            message = message[placed.end():]
        key, line = _locate(loc, lines, missing=error["type"] == "missing")
        if error["type"] == "extra_forbidden":
            message = "unknown key (a typo, or a key this version of Labgrader does not know)"
        problems.append(SpecProblem(toml, line, key, message))
    return sorted(problems, key=lambda p: p.line)
