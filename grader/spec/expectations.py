"""A lab's own expectations (`expectations.toml` beside its lab.toml): each notebook of the lab folder, what its
checks must earn and its total's range. `labgrader labs test LAB` grades each notebook and compares.

    [[notebooks]]
    path = "starter.ipynb"
    every = "fail"                                   # every check not listed below: no credit
    [[notebooks]]
    path = "solutions/solution.ipynb"
    every = "pass"                                   # full credit on every check
    score = [95, 100]                                # the total, at least and at most
    checks = { early_stopping = "partial" }          # or [low, high] points, "pass", "fail"

Like lab.toml it is data: validated here, against the lab's checks and files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.errors import SpecInvalid
from grader.spec.check_base import Identifier
from grader.spec.dataset import DataFile
from grader.spec.lab import LabSpec

EXPECTATIONS_FILE = "expectations.toml"
Verdict = Literal["pass", "fail", "partial"]
Expected = Verdict | tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotebookExpectation(_Strict):
    """One notebook of the lab folder and what grading it must give."""

    path: DataFile = Field(description="the notebook, relative to the lab folder")
    every: Verdict | None = Field(default=None, description="what every check not in `checks` must earn")
    checks: dict[Identifier, Expected] = Field(default_factory=dict, description=(
        "check id -> `pass` (full credit), `fail` (no credit), `partial` (some, not all) or [low, high] points"))
    score: tuple[float, float] | None = Field(default=None, description="the total's range, inclusive")

    @model_validator(mode="after")
    def _something(self) -> NotebookExpectation:
        if self.every is None and not self.checks and self.score is None:
            raise ValueError(f"{self.path}: expect something: `every`, `checks` or `score`")
        ranges = [self.score] if self.score is not None else []
        for low, high in [*ranges, *(v for v in self.checks.values() if isinstance(v, tuple))]:
            if low > high:
                raise ValueError(f"{self.path}: a range is [low, high], not [{low:g}, {high:g}]")
        return self

    def expected(self, check: str) -> Expected | None:
        return self.checks.get(check, self.every)


class LabExpectations(_Strict):
    notebooks: tuple[NotebookExpectation, ...] = Field(min_length=1)


def load_expectations(lab_dir: Path, spec: LabSpec) -> LabExpectations:
    """The lab's expectations, every check id one of the lab's and every notebook a file of its folder."""
    path = lab_dir / EXPECTATIONS_FILE
    try:
        expectations = LabExpectations.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise SpecInvalid(f"{path} does not exist: list the lab's notebooks and what each must earn there "
                          "(docs/lab-author.md, \"Test the lab\")") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecInvalid(f"{path}: {exc}") from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise SpecInvalid(f"{path}: {where}: {error['msg']}") from exc
    ids = {check.id for check in spec.checks}
    for index, notebook in enumerate(expectations.notebooks):
        unknown = sorted(set(notebook.checks) - ids)
        if unknown:
            raise SpecInvalid(f"{path}: notebooks[{index}].checks: lab {spec.id} has no check {unknown[0]!r} (its "
                              f"checks: {', '.join(sorted(ids))})")
        if not (lab_dir / notebook.path).is_file():
            raise SpecInvalid(f"{path}: notebooks[{index}].path: {notebook.path!r} is not a file in {lab_dir}")
    return expectations


@dataclass(frozen=True)
class Comparison:
    """One line of the table: a check (or "total") of a notebook, what was expected, what it earned."""

    notebook: str
    check: str
    expected: str
    earned: float
    max_score: float
    ok: bool


def _meets(expected: Expected, score: float, max_score: float) -> bool:
    if expected == "pass":
        return score >= max_score
    if expected == "fail":
        return score <= 0
    if expected == "partial":
        return 0 < score < max_score
    low, high = expected
    return low <= score <= high


def _words(expected: Expected | None) -> str:
    if expected is None:
        return "anything"
    return expected if isinstance(expected, str) else f"{expected[0]:g}..{expected[1]:g}"


def compare_expectations(notebook: NotebookExpectation, scores: dict[str, tuple[float, float]]) -> list[Comparison]:
    """Each check's (score, max score) against what `notebook` expects, then the total against its range."""
    rows = []
    for check, (score, max_score) in scores.items():
        expected = notebook.expected(check)
        ok = expected is None or _meets(expected, score, max_score)
        rows.append(Comparison(notebook.path, check, _words(expected), score, max_score, ok))
    total, most = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
    if notebook.score is not None:
        rows.append(Comparison(notebook.path, "total", _words(notebook.score), total, most,
                               _meets(notebook.score, total, most)))
    return rows
