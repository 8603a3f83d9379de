"""Every problem of a lab folder's `lab.toml`, each naming its key and its line (`labgrader labs validate`).

The schema is `grader.spec.LabSpec`; this module only finds where in the file each of its errors lives, so a new
field or check kind needs nothing here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grader.spec import LabSpec

Path_ = tuple[str | int, ...]
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_SYNTAX_LINE = re.compile(r"\(at line (\d+), column \d+\)")


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
            if header.group(1) == "[[":
                index = counts.get(names, 0)
                counts[names] = index + 1
                table = (*names, index)
            else:
                table = names
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


def spec_problems(folder_or_toml: Path) -> list[SpecProblem]:
    """Every problem of a lab: TOML syntax, each schema error, the id against the folder name, the starter file."""
    toml = folder_or_toml / "lab.toml" if folder_or_toml.is_dir() else folder_or_toml
    try:
        text = toml.read_text(encoding="utf-8")
    except OSError as exc:
        return [SpecProblem(toml, 1, "(file)", f"cannot be read: {exc.strerror or exc}")]
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _SYNTAX_LINE.search(str(exc))
        return [SpecProblem(toml, int(found.group(1)) if found else 1, "(syntax)", str(exc))]
    lines = key_lines(text)
    try:
        spec = LabSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False)
        failed = {tuple(e["loc"][:1]) for e in errors if len(e["loc"]) > 1}
        for error in errors:
            if error["type"] == "too_short" and tuple(error["loc"]) in failed:
                continue  # pydantic's echo of items that failed on their own: those are reported
            loc = tuple(error["loc"])
            if error["type"].startswith("union_tag") and "discriminator" in error.get("ctx", {}):
                loc = (*loc, str(error["ctx"]["discriminator"]).strip("'"))  # point at the `kind = ...` line
            key, line = _locate(loc, lines, missing=error["type"] == "missing")
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (a typo, or a key this version of Labgrader does not know)"
            problems.append(SpecProblem(toml, line, key, message))
        return sorted(problems, key=lambda p: p.line)
    problems = []
    if spec.id != toml.parent.name:
        problems.append(SpecProblem(toml, lines.get(("id",), 1), "id",
                                    f"lab id {spec.id!r} must match its folder name {toml.parent.name!r}"))
    if not (toml.parent / spec.starter).is_file():
        problems.append(SpecProblem(toml, lines.get(("starter",), 1), "starter",
                                    f"the starter notebook {spec.starter!r} is not in {toml.parent}"))
    return problems
