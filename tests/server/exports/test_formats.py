"""Gradebook exports from a real SQLite database: each format parses and applies the lab's deadline rules."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from grader.spec.lab import LateSubmission
from server.db import SessionFactory, transaction
from server.exports.formats import ExportFormat, UnknownFormat, render_export
from server.exports.gradebook import build_gradebook
from server.jobs.models import JobStatus
from server.submissions.models import Submission
from tests.server.dashboard.seed import graded_submission, migrated_factory, set_submission_rules, user_id

FULL = [20, 20, 30, 15, 15]


@pytest.fixture
def factory(tmp_path: Path) -> SessionFactory:
    factory = migrated_factory(tmp_path / "lab.db")
    with transaction(factory) as session:
        set_submission_rules(session, LateSubmission(deadline="2026-12-01T23:59:00Z", penalty_per_day=0.1,
                                                     counts="latest"))
        graded_submission(session, "ada", datetime(2026, 11, 30, 9), [20, 0, 0, 0, 0])
        graded_submission(session, "ada", datetime(2026, 12, 1, 9), [20, 20, 0, 0, 0])
        graded_submission(session, "ada", datetime(2026, 12, 5, 9), FULL)  # late: latest on-time counts
        graded_submission(session, "bob", datetime(2026, 12, 3, 12), FULL)  # only late: 2 days, 20% off
        graded_submission(session, "cy", datetime(2026, 11, 29, 9), FULL, status=JobStatus.ERROR)
        user_id(session, "dee")  # on the roster, never submitted
    return factory


def _export(factory: SessionFactory, fmt: ExportFormat) -> str:
    with transaction(factory) as session:
        body, _, _ = render_export(build_gradebook(session, "frameworks"), fmt)
    return body


def test_gradebook_csv_has_one_row_per_student_with_lateness_and_check_points(factory: SessionFactory) -> None:
    rows = list(csv.DictReader(io.StringIO(_export(factory, ExportFormat.CSV))))
    assert [r["student"] for r in rows] == ["ada", "bob", "cy", "dee"]
    ada, bob, cy, dee = rows
    assert ada == {"student": "ada", "lab_id": "frameworks", "submission_id": "2",
                   "submitted_at": "2026-12-01T09:00:00Z", "days_late": "0", "late_penalty_percent": "0",
                   "raw_score": "40", "score": "40", "max_score": "100", "iris_accuracy": "20",
                   "mnist_single_layer_accuracy": "20", "mnist_multi_layer_accuracy": "0", "overfitting_gap": "0",
                   "early_stopping": "0", "note": "", "reason": ""}
    assert (bob["submission_id"], bob["days_late"], bob["late_penalty_percent"], bob["raw_score"], bob["score"]) == (
        "4", "2", "20", "100", "80")
    assert cy["score"] == dee["score"] == cy["submission_id"] == ""


def test_the_note_of_a_cut_off_run_is_in_the_csv_and_gradescope_output(factory: SessionFactory) -> None:
    note = ("training was cut off: cell 12 was interrupted after running 300 s, the limit for one cell; the cells "
            "after it ran (the lab's limits: 300 s per cell, 900 s for the whole notebook). The networks are graded "
            "as they were trained until then; train for fewer epochs or with larger batches to finish within the "
            "limits")
    with transaction(factory) as session:
        session.execute(update(Submission).where(Submission.id == 4).values(note=note))
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(_export(factory, ExportFormat.CSV)))}
    assert (rows["bob"]["note"], rows["ada"]["note"]) == (note, "")
    bob = json.loads(_export(factory, ExportFormat.GRADESCOPE))["students"][1]["results"]
    assert bob["output"] == ("Submission 4, scored 100/100. Counted 80/100: 2 day(s) late, 20% off. "
                             f"Note: {note}")


def test_canvas_csv_has_the_points_possible_row_and_one_assignment_column(factory: SessionFactory) -> None:
    rows = list(csv.reader(io.StringIO(_export(factory, ExportFormat.CANVAS))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Classification with PyTorch/TensorFlow (frameworks)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "100"]
    assert rows[2:] == [["ada", "", "", "ada", "", "40"], ["bob", "", "", "bob", "", "80"],
                        ["cy", "", "", "cy", "", ""], ["dee", "", "", "dee", "", ""]]


def test_gradescope_results_carry_each_check_as_a_test(factory: SessionFactory) -> None:
    body = json.loads(_export(factory, ExportFormat.GRADESCOPE))
    assert body["lab_id"] == "frameworks"
    assert body["max_score"] == 100
    assert [s["student"] for s in body["students"]] == ["ada", "bob"]
    bob = body["students"][1]["results"]
    assert bob["score"] == 80
    assert bob["output"] == "Submission 4, scored 100/100. Counted 80/100: 2 day(s) late, 20% off."
    assert [t["number"] for t in bob["tests"]] == ["iris_accuracy", "mnist_single_layer_accuracy",
                                                   "mnist_multi_layer_accuracy", "overfitting_gap", "early_stopping"]
    assert bob["tests"][0] == {"name": "Iris network accuracy on held-out samples", "number": "iris_accuracy",
                               "score": 20.0, "max_score": 20.0, "status": "passed",
                               "output": "iris_accuracy: 20", "visibility": "visible"}


def test_best_counts_the_highest_score_after_penalties(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        set_submission_rules(session, LateSubmission(deadline="2026-12-01T23:59:00Z", penalty_per_day=0.1,
                                                     counts="best"))
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(_export(factory, ExportFormat.CSV)))}
    assert (rows["ada"]["submission_id"], rows["ada"]["days_late"], rows["ada"]["score"]) == ("3", "4", "60")


def test_an_unknown_format_names_the_choices() -> None:
    with pytest.raises(UnknownFormat) as caught:
        ExportFormat.parse("xlsx")
    assert str(caught.value) == "unknown export format 'xlsx': use csv, canvas or gradescope"
