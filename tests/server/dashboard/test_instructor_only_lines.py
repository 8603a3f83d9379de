"""The second held-back sample's accuracies (issue 23 item 3) are in the instructors' report, never on a student's
page: a student sees the per-check messages only. Against a real `labgrader serve`."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from server.db import transaction
from tests.conftest import make_server
from tests.server.dashboard.pages import logged_in
from tests.server.dashboard.seed import graded_submission, server_factory

FLAGGED = ("multi-layer MNIST model: accuracy 1.000 on the hidden part (4,002 rows), 0.101 on the second held-back "
           "sample (998 rows, never served): flagged, 0.899 lower on rows it was never scored on (chance explains "
           "0.029): the network fits the hidden rows themselves, not the task")


def test_the_second_sample_and_its_flag_reach_instructors_not_the_student(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    server.start()
    try:
        prof, ann = server.add_user("prof", "instructor"), server.add_user("ann")
        with transaction(server_factory(server.workdir / "labgrader.db")) as session:
            submission = graded_submission(session, "ann", datetime(2026, 11, 20, 10), [20, 20, 30, 15, 15],
                                           discovery=[FLAGGED])
        with logged_in(server, ann) as (client, _):
            student = client.get(f"/me/submissions/{submission}")
        with logged_in(server, prof) as (client, _):
            instructor = client.get(f"/dashboard/submissions/{submission}")
    finally:
        server.stop()
    assert (student.status_code, instructor.status_code) == (200, 200)
    assert "mnist_multi_layer_accuracy: 30" in student.text  # the student's own page, with its check messages
    for hidden in ("held-back", "hidden part", "flagged", "memoris", "What the grader found"):
        assert hidden not in student.text, hidden
    assert f"<li>{html.escape(FLAGGED)}</li>" in instructor.text
