"""The gradebook as files: Labgrader CSV, a Canvas gradebook-import CSV and Gradescope-style `results.json`.

    ExportError
     └── UnknownFormat   the format is not one of csv, canvas, gradescope
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from enum import StrEnum

from server.exports.gradebook import Gradebook, GradebookRow
from server.scores import format_score


class ExportError(ValueError):
    pass


class UnknownFormat(ExportError):
    pass


class ExportFormat(StrEnum):
    CSV = "csv"
    CANVAS = "canvas"
    GRADESCOPE = "gradescope"

    @classmethod
    def parse(cls, text: str) -> ExportFormat:
        try:
            return cls(text)
        except ValueError as exc:
            raise UnknownFormat(f"unknown export format {text!r}: use csv, canvas or gradescope") from exc


def _number(value: float | None) -> str:
    return "" if value is None else format_score(value)


def _iso(row: GradebookRow) -> str:
    return "" if row.submitted_at is None else row.submitted_at.isoformat(timespec="seconds") + "Z"


def gradebook_csv(book: Gradebook) -> str:
    """One row per student: the counted submission, lateness, raw and final score, each check's points (after
    overrides), the note on how its run ended when not normally (training cut off by a limit, a cell that raised),
    and the reason of the final score (late penalty, override, extension, chosen submission; "excused by ...")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    check_ids = [c.id for c in book.spec.checks]
    writer.writerow(["student", "lab_id", "submission_id", "submitted_at", "days_late", "late_penalty_percent",
                     "raw_score", "score", "max_score", *check_ids, "note", "reason"])
    for row in book.rows:
        counted, fields = row.counted, row.fields
        by_id = {c.check_id: c.score for c in row.checks}
        writer.writerow([
            row.student, book.spec.id, "" if counted is None else counted.attempt.submission_id, _iso(row),
            "" if counted is None else fields.days_late, "" if counted is None else _number(fields.penalty),
            "" if counted is None else _number(counted.attempt.raw_score), _number(row.score),
            _number(book.max_score), *(_number(by_id.get(i)) for i in check_ids), row.note, row.reason,
        ])
    return buffer.getvalue()


def canvas_csv(book: Gradebook) -> str:
    """Canvas's gradebook import layout: the student columns, a `Points Possible` row, one assignment column
    (`EX`, Canvas's own mark, for an excused student)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    assignment = f"{book.spec.title} ({book.spec.id})"
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment])
    writer.writerow(["Points Possible", "", "", "", "", _number(book.max_score)])
    for row in book.rows:
        writer.writerow([row.student, "", "", row.student, "", "EX" if row.excused else _number(row.score)])
    return buffer.getvalue()


def gradescope_results(book: Gradebook) -> str:
    """Per student, a Gradescope autograder `results.json` object (score, tests with name/score/max_score/output);
    excused students are listed apart with the reason."""
    students, excused = [], []
    for row in book.rows:
        if row.excused:
            excused.append({"student": row.student, "reason": row.reason})
        if row.counted is None:
            continue
        counted = row.counted
        output = f"Submission {counted.attempt.submission_id}, scored {_number(counted.attempt.raw_score)}/" \
                 f"{_number(book.max_score)}."
        if row.reason:
            output += f" Counted {_number(counted.score)}/{_number(book.max_score)}: {row.reason}."
        if row.note:
            output += f" Note: {row.note}"
        tests = [{"name": c.title, "number": c.check_id, "score": c.score, "max_score": c.max_score,
                  "status": "passed" if c.passed else "failed", "output": c.message, "visibility": "visible"}
                 for c in row.checks]
        students.append({"student": row.student, "submission_id": counted.attempt.submission_id,
                         "results": {"score": counted.score, "output": output, "visibility": "visible",
                                     "stdout_visibility": "hidden", "tests": tests}})
    return json.dumps({"lab_id": book.spec.id, "max_score": book.max_score, "students": students,
                       "excused": excused}, indent=2) + "\n"


RENDERERS: dict[ExportFormat, tuple[Callable[[Gradebook], str], str, str]] = {
    ExportFormat.CSV: (gradebook_csv, "text/csv; charset=utf-8", "gradebook.csv"),
    ExportFormat.CANVAS: (canvas_csv, "text/csv; charset=utf-8", "canvas.csv"),
    ExportFormat.GRADESCOPE: (gradescope_results, "application/json", "results.json"),
}


def render_export(book: Gradebook, fmt: ExportFormat) -> tuple[str, str, str]:
    """(body, media type, file name) of the gradebook in a format."""
    render, media_type, suffix = RENDERERS[fmt]
    return render(book), media_type, f"{book.spec.id}-{suffix}"
