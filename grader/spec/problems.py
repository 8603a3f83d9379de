"""Every problem of a lab folder's `lab.toml`, each naming its key and its line (`labgrader labs validate`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grader.errors import SharedDatasetInvalid
from grader.spec.lab import LabSpec
from grader.spec.lines import SpecProblem, key_lines, validation_problems
from grader.spec.shared import with_shared_datasets

__all__ = ["SpecProblem", "find_spec_problems"]

_SYNTAX_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def find_spec_problems(folder_or_toml: Path) -> list[SpecProblem]:
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
    try:
        raw = with_shared_datasets(raw, toml)
    except SharedDatasetInvalid as exc:
        return [SpecProblem(toml, _line_of(text, exc.key), exc.key, exc.message)]
    try:
        spec = LabSpec.model_validate(raw)
    except ValidationError as exc:
        return validation_problems(toml, text, exc)
    lines = key_lines(text)
    problems = []
    if spec.id != toml.parent.name:
        problems.append(SpecProblem(toml, lines.get(("id",), 1), "id",
                                    f"lab id {spec.id!r} must match its folder name {toml.parent.name!r}"))
    if not (toml.parent / spec.starter).is_file():
        problems.append(SpecProblem(toml, lines.get(("starter",), 1), "starter",
                                    f"the starter notebook {spec.starter!r} is not in {toml.parent}"))
    for name in spec.student_files:
        if not (toml.parent / name).is_file():
            problems.append(SpecProblem(toml, lines.get(("student_files",), 1), "student_files",
                                        f"{name!r} is not a file in {toml.parent}"))
    return problems


def _line_of(text: str, key: str) -> int:
    """The line of `datasets[1].shared` (or of its table, or 1) in a lab.toml."""
    parts: list[str | int] = []
    for part in re.findall(r"[a-z_]+|\[\d+\]", key):
        parts.append(int(part[1:-1]) if part.startswith("[") else part)
    lines = key_lines(text)
    while parts and tuple(parts) not in lines:
        parts.pop()
    return lines.get(tuple(parts), 1)
