"""The course-wide gradebook: every lab's counted score per student and a weighted total, from the course file.

The course file is `course.toml` in the labs folder (`LABGRADER_LABS_DIR`), beside the labs' own folders:

    [weights]            # a lab's share of the course total; a lab not listed weighs 1 (labs count equally)
    frameworks = 2
    frameworks_b = 1

A student's total is the weighted mean of their counted score as a percent of each lab's maximum; a lab they have
not submitted counts 0, a lab they are excused from leaves the total (its weight too). No file: equal weights.

    InvalidInput
     └── CourseFileInvalid   the file is not TOML, has a key other than [weights], a weight that is not a number
                             >= 0, or a weight for a lab this server has not loaded
"""

from __future__ import annotations

import csv
import io
import math
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from server.errors import InvalidInput
from server.exports.gradebook import Gradebook, GradebookRow, build_gradebook
from server.labs.service import list_specs
from server.scores import format_score, round_score

COURSE_FILE = "course.toml"
MAX_COURSE_FILE_BYTES = 64 * 1024


class CourseFileInvalid(InvalidInput):
    """course.toml cannot be used; the message names the file and what to change."""


@dataclass(frozen=True)
class CourseWeights:
    """Each lab's weight in the course total (1 unless the course file says otherwise)."""

    weights: dict[str, float]
    source: Path | None = None  # the course file they came from; None: there is none, labs count equally

    def weight(self, lab_id: str) -> float:
        return self.weights.get(lab_id, 1.0)


def load_weights(labs_dir: Path, lab_ids: Collection[str]) -> CourseWeights:
    """The weights in `labs_dir/course.toml` (equal weights when there is no such file), validated."""
    path = labs_dir / COURSE_FILE
    if not path.is_file():
        return CourseWeights({})
    where = f"{path.resolve()}"
    if path.stat().st_size > MAX_COURSE_FILE_BYTES:
        raise CourseFileInvalid(f"{where} is larger than {MAX_COURSE_FILE_BYTES // 1024} KB")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseFileInvalid(f"{where} is not a readable TOML file: {exc}") from exc
    unknown = sorted(set(raw) - {"weights"})
    if unknown:
        raise CourseFileInvalid(f"{where} has {', '.join(repr(k) for k in unknown)}; the only table is [weights]")
    table = raw.get("weights", {})
    if not isinstance(table, dict):
        raise CourseFileInvalid(f"{where}: weights is a table of lab = number, such as [weights] lab_a = 2")
    weights: dict[str, float] = {}
    for lab_id, value in table.items():
        if lab_id not in lab_ids:
            known = ", ".join(sorted(lab_ids)) or "none"
            raise CourseFileInvalid(f"{where} weighs lab {lab_id!r}, which this server has not loaded "
                                    f"(its labs: {known})")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise CourseFileInvalid(f"{where}: the weight of {lab_id!r} must be a number >= 0, not {value!r}")
        weights[lab_id] = float(value)
    return CourseWeights(weights, path)


@dataclass(frozen=True)
class StudentCourse:
    """One student across the course: their gradebook row in each lab, and the weighted total."""

    student: str
    labs: dict[str, GradebookRow]
    total_percent: float | None  # None: excused from every weighted lab


def course_total(labs: dict[str, GradebookRow], books: list[Gradebook], weights: CourseWeights) -> float | None:
    """The weighted mean of the counted scores as percents of each lab's maximum (not submitted: 0; excused: left
    out), rounded like every score."""
    earned = possible = 0.0
    for book in books:
        row, weight = labs.get(book.spec.id), weights.weight(book.spec.id)
        if weight == 0 or book.max_score <= 0 or (row is not None and row.excused):
            continue
        score = row.score if row is not None and row.score is not None else 0.0
        earned += weight * score / book.max_score
        possible += weight
    return None if possible == 0 else round_score(100 * earned / possible)


@dataclass(frozen=True)
class CourseGradebook:
    books: list[Gradebook]
    weights: CourseWeights
    students: list[StudentCourse]

    def student(self, name: str) -> StudentCourse | None:
        return next((s for s in self.students if s.student == name), None)


def build_course_gradebook(session: Session, weights: CourseWeights | None = None) -> CourseGradebook:
    """Every lab's gradebook, each student's rows side by side, and their totals (equal weights unless given)."""
    books = [build_gradebook(session, spec.id) for spec in list_specs(session)]
    chosen = weights or CourseWeights({})
    people: dict[str, dict[str, GradebookRow]] = {}
    for book in books:
        for row in book.rows:
            people.setdefault(row.student, {})[book.spec.id] = row
    students = [StudentCourse(name, labs, course_total(labs, books, chosen)) for name, labs in sorted(people.items())]
    return CourseGradebook(books, chosen, students)


def course_csv(course: CourseGradebook) -> str:
    """One row per student: each lab's counted score (`EX` when excused, empty when none), then the weighted total
    in percent; a second header row gives each lab's maximum and weight."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *(b.spec.id for b in course.books), "total_percent"])
    writer.writerow(["max_score", *(format_score(b.max_score) for b in course.books), "100"])
    writer.writerow(["weight", *(format_score(course.weights.weight(b.spec.id)) for b in course.books), ""])
    for student in course.students:
        cells = []
        for book in course.books:
            row = student.labs.get(book.spec.id)
            cells.append("EX" if row is not None and row.excused else
                         "" if row is None or row.score is None else format_score(row.score))
        writer.writerow([student.student, *cells,
                         "" if student.total_percent is None else format_score(student.total_percent)])
    return buffer.getvalue()
