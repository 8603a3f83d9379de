"""Stored notebooks are compressed and a student's stored bytes are bounded by a quota, through a real server."""

from __future__ import annotations

import html
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from sqlalchemy import func, select

from server.db import transaction
from server.errors import PayloadTooLarge
from server.jobs.models import Artifact, ArtifactKind, CheckResultRow, GradingJob
from server.jobs.stored_artifacts import decode, new_artifact
from server.submissions.models import Submission
from server.submissions.quota import check_quota, stored_bytes
from server.users.models import User
from tests.conftest import LABGRADER, LiveServer, make_server
from tests.server.dashboard.pages import logged_in
from tests.server.dashboard.seed import graded_submission, migrated_factory

MB = 1024 * 1024
UPLOAD_MB = 19.9  # the review's upload: 19.9 MB of mostly repeated output stored 42 MB (it and its executed copy)


def training_log_notebook(size_bytes: int) -> bytes:
    """A notebook with a long training log pasted into a markdown cell (kept in the executed copy too) and the stale
    output of the cell that printed it (what a verbose `fit` leaves behind), `size_bytes` in all."""
    lines, total, step = [], 0, 0
    while total < size_bytes - 4096:  # nbformat writes each line as an indented JSON string: ~11 bytes more
        line = (f"epoch {step // 1000 + 1}/20 - step {step % 1000}/1000 - loss: 0.{step * 7919 % 10000:04d} "
                f"- accuracy: 0.{step * 104729 % 10000:04d}\n")
        lines.append(line)
        total, step = total + len(line) + 11, step + 1
    half = len(lines) // 2
    cells = [new_markdown_cell("## Training log\n" + "".join(lines[:half])),
             new_code_cell("history = None  # the model was trained in an earlier session",
                           outputs=[new_output("stream", name="stdout", text="".join(lines[half:]))])]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    short = size_bytes - len(nbformat.writes(nb).encode())
    if short > 64:  # the estimate undershoots: a closing rule makes up the rest
        cells[0].source += "\n" + "=" * (short - 32)
    return str(nbformat.writes(nb)).encode()


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("storage"), LABGRADER_STUDENT_QUOTA_MB="4")
    server.start()
    yield server
    server.stop()


def _rows(server: LiveServer, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        return list(conn.execute(sql, params).fetchall())


def _stored_bytes(server: LiveServer, student: str) -> int:
    own = "SELECT s.id FROM submissions s JOIN users u ON u.id = s.student_id WHERE u.name = ?"
    artifacts = _rows(server, f"SELECT coalesce(sum(length(content)), 0) FROM artifacts WHERE submission_id IN ({own})",
                      student)
    outputs = _rows(server, "SELECT coalesce(sum(length(content)), 0) FROM stored_outputs "
                            f"WHERE submission_id IN ({own})", student)
    texts = _rows(server, "SELECT coalesce(sum(length(coalesce(report_json, '')) + length(coalesce(error_reason, ''))),"
                          f" 0) FROM grading_jobs WHERE submission_id IN ({own})", student)
    checks = _rows(server, "SELECT coalesce(sum(length(message) + length(title)), 0) FROM check_results "
                           f"WHERE submission_id IN ({own})", student)
    notes = _rows(server, "SELECT coalesce(sum(length(coalesce(s.note, '')) + length(s.filename)), 0) FROM "
                          "submissions s JOIN users u ON u.id = s.student_id WHERE u.name = ?", student)
    return sum(int(str(rows[0][0])) for rows in (artifacts, outputs, texts, checks, notes))


@pytest.mark.slow
def test_a_big_notebook_is_stored_compressed_read_back_whole_and_the_quota_refuses_the_next(
        quota_server: LiveServer, tmp_path: Path) -> None:
    """A 19.9 MB upload fits a 4 MB quota because it is stored compressed; the executed notebook downloads as JSON;
    the next upload, past the quota, is refused before anything is stored, and `submit` says how much is used."""
    token = quota_server.add_user("verbose")
    upload = training_log_notebook(int(UPLOAD_MB * MB))
    assert UPLOAD_MB - 0.1 < len(upload) / MB <= UPLOAD_MB
    with quota_server.client(token) as client:
        accepted = client.post("/api/v1/labs/frameworks/submissions", files={"notebook": ("lab.ipynb", upload)})
    assert accepted.status_code == 202, accepted.text
    submission_id = accepted.json()["id"]
    assert quota_server.wait_for(token, submission_id, timeout_s=600)["status"] == "graded"

    stored = {str(kind): (str(encoding), bytes(content))  # type: ignore[call-overload]
              for kind, encoding, content in _rows(quota_server, "SELECT kind, content_encoding, content FROM "
                                                                 "artifacts WHERE submission_id = ?", submission_id)}
    assert {k: e for k, (e, _) in stored.items()} == {"submitted_notebook": "gzip", "executed_notebook": "gzip"}
    assert decode(stored["submitted_notebook"][1], "gzip") == upload
    executed = decode(stored["executed_notebook"][1], "gzip")
    stored_total = sum(len(c) for _, c in stored.values())
    print(f"\nupload {len(upload) / MB:.2f} MB, executed {len(executed) / MB:.2f} MB: stored "
          f"{(len(upload) + len(executed)) / MB:.2f} MB uncompressed, {stored_total / MB:.2f} MB compressed")
    assert stored_total < (len(upload) + len(executed)) / 5

    with quota_server.client(token) as client:
        download = client.get(f"/api/v1/submissions/{submission_id}/notebook")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/x-ipynb+json"
    assert download.content == executed
    assert "epoch 10/20 - step 999/1000" in "".join(json.loads(download.content)["cells"][0]["source"])

    used = _stored_bytes(quota_server, "verbose")
    submissions_before = _rows(quota_server, "SELECT count(*) FROM submissions")
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(upload)
    refused = subprocess.run([*LABGRADER, "submit", str(notebook), "--lab", "frameworks", "--server",
                              quota_server.url, "--token", token], capture_output=True, text=True, timeout=120,
                             env=quota_server.env)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"error: the server refused the upload (413): your storage quota is full: your submissions store "
        f"{used / MB:.1f} MB of your 4 MB and this upload needs {len(stored['submitted_notebook'][1]) / MB:.1f} MB "
        "more (compressed); ask your instructor to raise your quota (the server setting "
        "LABGRADER_STUDENT_QUOTA_MB)\n")
    with logged_in(quota_server, token) as (page, csrf):  # the upload form on /me refuses it the same way
        form = page.post("/me/submissions", data={"csrf_token": csrf, "lab_id": "frameworks"},
                         files={"notebook": ("lab.ipynb", upload)})
    assert form.status_code == 413
    assert (f'id="upload-error">Your storage quota is full: your submissions store {used / MB:.1f} MB of your 4 MB'
            in html.unescape(form.text))
    assert _rows(quota_server, "SELECT count(*) FROM submissions") == submissions_before
    assert _stored_bytes(quota_server, "verbose") == used


def test_the_quota_is_per_student_and_counts_what_is_stored(quota_server: LiveServer) -> None:
    """Another student is not charged for the first one's storage (over the quota after the test above)."""
    token = quota_server.add_user("brief")
    small = nbformat.writes(new_notebook(cells=[new_code_cell("print(1)")])).encode()
    with quota_server.client(token) as client:
        response = client.post("/api/v1/labs/frameworks/submissions", files={"notebook": ("lab.ipynb", small)})
    assert response.status_code == 202, response.text
    assert _rows(quota_server, "SELECT content_encoding FROM artifacts WHERE submission_id = ? AND kind = "
                               "'submitted_notebook'", response.json()["id"]) == [("gzip",)]


def test_notes_reports_and_messages_count_toward_the_quota(tmp_path: Path) -> None:
    """Issue 20 stored 4.4 MB of note while the quota counted 4.6 kB: every stored text of a submission counts."""
    factory = migrated_factory(tmp_path / "quota.db")
    big = "N" * 300_000
    with transaction(factory) as session:
        sub = graded_submission(session, "noisy", datetime(2026, 11, 20, 10), [0, 0, 0, 0, 0],
                                messages=[big, "m", "m", "m", "m"])
        graded_submission(session, "other", datetime(2026, 11, 20, 10), [0, 0, 0, 0, 0])
        submission = session.get(Submission, sub)
        assert submission is not None
        submission.note = big
        job = session.get(GradingJob, submission.current_job_id)
        assert job is not None
        job.error_reason, job.report_json = big, job.report_json + " " * 200_000  # type: ignore[operator]
        session.add(new_artifact(sub, ArtifactKind.EXECUTED_NOTEBOOK.value, "application/x-ipynb+json", b"{}"))
    with factory() as session:
        noisy = session.scalar(select(User).where(User.name == "noisy"))
        assert noisy is not None
        lengths = func.length(CheckResultRow.message) + func.length(CheckResultRow.title)
        texts = session.execute(select(func.sum(lengths)).where(CheckResultRow.submission_id == sub)).scalar_one()
        report = session.execute(select(func.length(GradingJob.report_json)).where(GradingJob.submission_id == sub)
                                 ).scalar_one()
        artifact = session.execute(select(func.length(Artifact.content)).where(Artifact.submission_id == sub)
                                   ).scalar_one()
        expected = len(big) * 2 + report + texts + len("lab.ipynb") + artifact
        assert stored_bytes(session, noisy.id) == expected
        assert expected > 3 * len(big)
        with pytest.raises(PayloadTooLarge) as caught:
            check_quota(session, noisy, 100_000, quota_mb=1)
    assert str(caught.value) == (
        f"your storage quota is full: your submissions store {expected / MB:.1f} MB of your 1 MB and this upload "
        "needs 0.1 MB more (compressed); ask your instructor to raise your quota (the server setting "
        "LABGRADER_STUDENT_QUOTA_MB)")
