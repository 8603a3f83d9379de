"""Grading results: a CheckResult per check rolling up into a GradingReport with a computed total."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field

from grader.scoring.student_text import exception_name, printable


class CheckResult(BaseModel):
    """The outcome of one check; `message` is shown to the student and never holds hidden data."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    passed: bool
    score: float
    max_score: float
    message: str
    measured: float | None = None


class CellError(BaseModel):
    """A cell that raised; the traceback is for instructors only."""

    model_config = ConfigDict(frozen=True)

    cell_index: int
    ename: str
    evalue: str
    traceback: str = ""

    def describe(self) -> str:
        """Student-facing: a built-in exception's class (or the grader's CellTimeout) and the message, printable and
        capped; any other class name is "an exception" (the traceback stays with the instructors)."""
        name = self.ename if self.ename == "CellTimeout" else exception_name(self.ename)
        return f"cell {self.cell_index + 1} raised {name}: {printable(self.evalue, 200)}"


class GradingReport(BaseModel):
    """Everything the scorer concluded about one notebook run."""

    model_config = ConfigDict(frozen=True)

    lab_id: str
    checks: tuple[CheckResult, ...]
    cell_errors: tuple[CellError, ...] = ()
    execution_note: str = ""
    discovery: tuple[str, ...] = ()
    device: str = "cpu"
    isolation: str = ""
    timings_s: dict[str, float] = Field(default_factory=dict)
    history: dict[str, dict[str, list[float]]] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 4)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 4)
