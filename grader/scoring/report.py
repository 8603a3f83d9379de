"""Grading results: a CheckResult per check rolling up into a GradingReport with a computed total."""

from __future__ import annotations

from typing import Literal

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


class Cutoff(BaseModel):
    """A limit that stopped the notebook: the networks are graded as they were trained when it struck."""

    model_config = ConfigDict(frozen=True)

    limit: Literal["cell", "notebook"]
    cell_number: int  # 1-based, markdown cells counted, as every report names cells
    ran_s: float  # how long that cell ran before it was stopped (0: the time ran out between cells)
    started_after_s: float  # seconds of the notebook's time used before that cell started
    cell_timeout_s: float
    notebook_timeout_s: float
    interrupted: bool = True

    def describe(self) -> str:
        """The sentence the report, the dashboard and the export show."""
        limits = (f"the lab's limits: {self.cell_timeout_s:.0f} s per cell, {self.notebook_timeout_s:.0f} s for the "
                  "whole notebook")
        if self.limit == "cell":
            what = (f"cell {self.cell_number} ran longer than {self.cell_timeout_s:.0f} s and was interrupted; the "
                    f"cells after it ran ({limits}). The networks are graded as they were trained when it stopped, "
                    f"{self.ran_s:.0f} s into that cell")
        elif self.interrupted:
            what = (f"the notebook ran longer than its {self.notebook_timeout_s:.0f} s limit in cell "
                    f"{self.cell_number}, which was interrupted after running {self.ran_s:.0f} s; the cells after it "
                    f"did not run ({limits}). The networks are graded as they were trained when it stopped")
        else:
            what = (f"the notebook ran longer than its {self.notebook_timeout_s:.0f} s limit; cell {self.cell_number} "
                    f"and later did not run ({limits}). The networks are graded as they were trained until then")
        return f"{what}; train for fewer epochs or with larger batches to finish within the limits"


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
    cutoff: Cutoff | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 4)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 4)
