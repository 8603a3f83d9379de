"""Grading results: a CheckResult per check rolling up into a GradingReport with a computed total.

Every text a report carries is grader-written sentences with values in them, some of which came from the sandbox.
Whatever built it, the report itself is the last gate: each text field is made printable (no control or format
characters: escape sequences, bidi overrides) and capped (`TEXT_LIMITS`) when the model is made, so nothing stored,
served, exported or shown holds more (a cell's traceback, for instructors only, is capped and kept as IPython wrote
it). `tests/grader/scoring/test_report_text.py` walks every text field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from grader.scoring.student_text import exception_name, printable

TEXT_LIMITS = {"message": 3000, "note": 3000, "line": 600, "name": 200, "evalue": 2000, "traceback": 20000}
MAX_DISCOVERY_LINES = 200


def _bounded(limit: int) -> AfterValidator:
    return AfterValidator(lambda text: printable(text, limit))


def _bounded_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(printable(line, TEXT_LIMITS["line"]) for line in lines[:MAX_DISCOVERY_LINES])


Message = Annotated[str, _bounded(TEXT_LIMITS["message"])]
Note = Annotated[str, _bounded(TEXT_LIMITS["note"])]
Name = Annotated[str, _bounded(TEXT_LIMITS["name"])]


class CheckResult(BaseModel):
    """The outcome of one check; `message` is shown to the student and never holds hidden data."""

    model_config = ConfigDict(frozen=True)

    id: Name
    title: Message
    passed: bool
    score: float
    max_score: float
    message: Message
    measured: float | None = None


class CellError(BaseModel):
    """A cell that raised; the traceback is for instructors only."""

    model_config = ConfigDict(frozen=True)

    cell_index: int
    ename: Name
    evalue: Annotated[str, _bounded(TEXT_LIMITS["evalue"])]
    # instructors' text, as IPython wrote it (colour codes included: the dashboard renders them), capped
    traceback: Annotated[str, AfterValidator(lambda text: text[-TEXT_LIMITS["traceback"]:])] = ""
    # what this failure left undefined that later cells needed, and those cells (indices): `grader.scoring.cause`
    left_undefined: tuple[Name, ...] = Field(default=(), max_length=8)
    failed_after: tuple[int, ...] = Field(default=(), max_length=1000)

    def describe(self) -> str:
        """Student-facing: a built-in exception's class (or the grader's CellTimeout) and the message, printable and
        capped; any other class name is "an exception" (the traceback stays with the instructors). A failure that
        others followed says what it left undefined and which later cells failed for it."""
        name = self.ename if self.ename == "CellTimeout" else exception_name(self.ename)
        said = f"cell {self.cell_index + 1} raised {name}: {printable(self.evalue, 200)}"
        if not self.failed_after:
            return said
        one_name, one_cell = len(self.left_undefined) == 1, len(self.failed_after) == 1
        names = ", ".join(f"`{n}`" for n in self.left_undefined)
        later = [str(i + 1) for i in self.failed_after[:8]] + (["..."] if len(self.failed_after) > 8 else [])
        return (f"{said}, so {names} {'was' if one_name else 'were'} never defined and cell{'' if one_cell else 's'} "
                f"{', '.join(later)} that depend{'s' if one_cell else ''} on {'it' if one_name else 'them'} failed too")


class Cutoff(BaseModel):
    """A limit that stopped the notebook: the networks are graded as they were trained when it struck.

    The limits are counted in the job's own CPU time at its share of the cores (`clock` "cpu"), with a wall-clock
    backstop several times larger for code that waits (`clock` "wall" with `cpu_s`), which leaves out the time the job
    waited for a CPU behind other work (`waited_s`, where the host measures it); on a host without CPU accounting
    they are wall-clock (`clock` "wall", no `cpu_s`)."""

    model_config = ConfigDict(frozen=True)

    limit: Literal["cell", "notebook"]
    cell_number: int  # 1-based, markdown cells counted, as every report names cells
    ran_s: float  # how long that cell ran before it was stopped (0: the time ran out between cells)
    started_after_s: float  # seconds of the notebook's time used before that cell started
    cell_timeout_s: float
    notebook_timeout_s: float
    interrupted: bool = True
    clock: Literal["cpu", "wall"] = "wall"  # what struck: the CPU-time limit, or wall-clock time
    cpu_s: float | None = None  # CPU seconds the cell (limit "cell") or the notebook had used when it was stopped
    cpu_share_cores: float = 1.0
    # seconds of `ran_s` (limit "cell") or of the notebook's time the job spent waiting for a CPU behind other work,
    # which the backstop did not count; None: not measured (the backstop counted plain wall-clock time)
    waited_s: float | None = None

    def _cpu_limit_s(self) -> float:
        timeout = self.cell_timeout_s if self.limit == "cell" else self.notebook_timeout_s
        return timeout * self.cpu_share_cores

    def describe(self) -> str:
        """The sentence the report, the dashboard and the export show."""
        limits = (f"the lab's limits: {self.cell_timeout_s:.0f} s per cell, {self.notebook_timeout_s:.0f} s for the "
                  "whole notebook")
        if self.cpu_s is not None:
            cores = f"{self.cpu_share_cores:g} core{'' if self.cpu_share_cores == 1 else 's'}"
            limits += f", in CPU time at {cores}, so a busy worker does not shorten them"
        if self.cpu_s is not None and self.clock == "wall":
            return self._waited(limits)
        used = f"used its {self._cpu_limit_s():.0f} s of CPU time" if self.clock == "cpu" else None
        if self.limit == "cell":
            what = (f"cell {self.cell_number} {used or f'ran longer than {self.cell_timeout_s:.0f} s'} and was "
                    f"interrupted; the cells after it ran ({limits}). The networks are graded as they were trained "
                    f"when it stopped, {self.ran_s:.0f} s into that cell")
        elif self.interrupted:
            what = (f"the notebook {used or f'ran longer than its {self.notebook_timeout_s:.0f} s limit'} in cell "
                    f"{self.cell_number}, which was interrupted after running {self.ran_s:.0f} s; the cells after it "
                    f"did not run ({limits}). The networks are graded as they were trained when it stopped")
        else:
            what = (f"the notebook {used or f'ran longer than its {self.notebook_timeout_s:.0f} s limit'}; cell "
                    f"{self.cell_number} and later did not run ({limits}). The networks are graded as they were "
                    "trained until then")
        return f"{what}; train for fewer epochs or with larger batches to finish within the limits"

    def _waited(self, limits: str) -> str:
        """The wall-clock backstop struck with CPU time to spare: the code waited, or the worker starved it."""
        if self.limit == "cell":
            where, elapsed, after = f"cell {self.cell_number}", self.ran_s, "the cells after it ran"
        else:
            where, elapsed = "the notebook", self.started_after_s + self.ran_s
            after = (f"cell {self.cell_number} was interrupted and the cells after it did not run" if self.interrupted
                     else f"cell {self.cell_number} and later did not run")
        if self.waited_s is not None:
            elapsed -= self.waited_s
            where += (f" was stopped by the wall-clock backstop after {elapsed:.0f} s (not counting "
                      f"{self.waited_s:.0f} s it waited for a CPU behind other work)")
        else:
            where += f" was stopped by the wall-clock backstop after {elapsed:.0f} s"
        return (f"{where} having used only "
                f"{self.cpu_s:.0f} s of its {self._cpu_limit_s():.0f} s of CPU time; {after} ({limits}). It was "
                "waiting rather than computing, so this is not a sign of too many epochs: if the notebook does not "
                "sleep or wait for input, the worker was overloaded and a regrade will run it in full. The networks "
                "are graded as they were trained when it stopped")


class GradingReport(BaseModel):
    """Everything the scorer concluded about one notebook run."""

    model_config = ConfigDict(frozen=True)

    lab_id: Name
    checks: tuple[CheckResult, ...]
    cell_errors: tuple[CellError, ...] = ()
    execution_note: Note = ""
    discovery: Annotated[tuple[str, ...], AfterValidator(_bounded_lines)] = ()
    device: Name = "cpu"
    isolation: Annotated[str, _bounded(TEXT_LIMITS["message"])] = ""
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
