"""Rescoring a lab from stored outputs: a real `labgrader serve` grades a notebook in a real kernel; the instructor
edits lab.toml and rescores through the CLI and the API route, on SQLite and on PostgreSQL; no kernel runs again."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from grader.scoring.scorers import partial_credit
from tests.conftest import IRIS_CODE, REPO, LiveServer, make_server, notebook_bytes

SMALL_MNIST = REPO / "lab_tasks" / "frameworks" / "testdata" / "mnist-small.npz"
ORIGINAL_TOML = (REPO / "lab_tasks" / "frameworks" / "lab.toml").read_text()
IRIS_CHECK = """kind = "accuracy"
model = "iris_model"
max_parameters = 10_000  # a faithful network has a few hundred
dataset = "iris"
points = 20
full_credit_at = 0.93
no_credit_at = 0.70"""
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Graded:
    server: LiveServer
    lab_toml: Path
    instructor: str
    student: str
    submission_id: int
    iris_accuracy: float
    database_url: str

    def write_toml(self, iris_check: str = IRIS_CHECK, extra: str = "") -> None:
        assert IRIS_CHECK in ORIGINAL_TOML, "the frameworks lab's Iris check changed: IRIS_CHECK must quote it"
        self.lab_toml.write_text(ORIGINAL_TOML.replace(IRIS_CHECK, iris_check) + extra)

    def submission(self) -> dict[str, object]:
        with self.server.client(self.instructor) as client:
            return dict(client.get(f"/api/v1/submissions/{self.submission_id}").json())

    def iris(self) -> dict[str, object]:
        checks = self.submission()["checks"]
        assert isinstance(checks, list)
        return dict(next(c for c in checks if c["id"] == "iris_accuracy"))

    def execute(self, sql: str) -> None:
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text(sql))
        engine.dispose()


def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'server' / 'labgrader.db'}"
        return
    name = f"labgrader_rescore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    """One notebook with an Iris network graded by a real server whose labs live in an editable folder."""
    tmp = tmp_path_factory.mktemp(f"rescore-{request.param}")
    lab_toml = tmp / "labs" / "frameworks" / "lab.toml"
    lab_toml.parent.mkdir(parents=True)
    lab_toml.write_text(ORIGINAL_TOML)
    shutil.copy(REPO / "lab_tasks" / "datasets.toml", lab_toml.parent.parent)  # the course's MNIST declaration
    shutil.copytree(REPO / "lab_tasks" / "frameworks" / "student_files", lab_toml.parent / "student_files")
    for url in _database(request.param, tmp):
        server = make_server(tmp, LABGRADER_LABS_DIR=str(lab_toml.parent.parent), LABGRADER_DATABASE_URL=url)
        server.cli("datasets", "import", str(SMALL_MNIST), "--as", "mnist.npz")
        server.start()
        try:
            instructor, student = server.add_user("prof", "instructor"), server.add_user("ann")
            with server.client(student) as client:
                created = client.post("/api/v1/labs/frameworks/submissions",
                                      files={"notebook": ("iris.ipynb", notebook_bytes(IRIS_CODE))})
            assert created.status_code == 202, created.text
            body = server.wait_for(student, created.json()["id"], timeout_s=300)
            assert body["status"] == "graded", body
            iris = next(c for c in body["checks"] if c["id"] == "iris_accuracy")  # type: ignore[attr-defined]
            found = re.search(r"reached accuracy (\d\.\d{3}) on 30 hidden Iris samples", iris["message"])
            assert found, iris
            yield Graded(server, lab_toml, instructor, student, int(body["id"]), float(found.group(1)), url)
        finally:
            server.stop()


def test_an_unchanged_spec_rescores_to_the_same_report(graded: Graded) -> None:
    graded.write_toml()
    before = graded.submission()
    out = graded.server.cli("rescore", "--lab", "frameworks")
    assert re.fullmatch(r"rescored 1 submission of lab frameworks from their stored outputs in \d+\.\d\d s "
                        r"\(0 changed\); no notebook ran\n", out.stdout), out.stdout
    assert out.stderr == ""
    assert graded.submission() == before


def test_cli_rescore_applies_a_changed_threshold_and_point_value(graded: Graded) -> None:
    graded.write_toml(IRIS_CHECK.replace("points = 20", "points = 40")
                      .replace("full_credit_at = 0.93", "full_credit_at = 0.995")
                      .replace("no_credit_at = 0.70", "no_credit_at = 0.60"))
    out = graded.server.cli("rescore", "--lab", "frameworks")
    assert "(1 changed); no notebook ran" in out.stdout
    iris = graded.iris()
    expected = partial_credit(graded.iris_accuracy, 0.995, 0.60, 40)
    assert iris["max_score"] == 40
    assert iris["score"] == expected
    assert iris["passed"] is (graded.iris_accuracy >= 0.995)
    assert f"(full credit at {0.995:.2f}, none at or below 0.60)" in str(iris["message"])
    submission = graded.submission()
    assert submission["max_score"] == 120
    assert submission["status"] == "graded"
    graded.write_toml()
    graded.server.cli("rescore", "--lab", "frameworks")
    assert graded.iris()["max_score"] == 20


def test_api_rescore_answers_when_done_and_only_for_instructors(graded: Graded) -> None:
    graded.write_toml(IRIS_CHECK.replace("points = 20", "points = 25"))
    with graded.server.client(graded.student) as client:
        refused = client.post("/api/v1/labs/frameworks/rescore")
    assert refused.status_code == 403
    with graded.server.client(graded.instructor) as client:
        missing = client.post("/api/v1/labs/nope/rescore")
        answer = client.post("/api/v1/labs/frameworks/rescore")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no lab with id 'nope'"}
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["seconds"] < 30
    assert {k: v for k, v in body.items() if k != "seconds"} == {
        "lab_id": "frameworks", "rescored": 1, "changed": 1, "pending": 0, "not_rescored": [], "regrade": None}
    assert graded.iris()["max_score"] == 25
    assert graded.submission()["max_score"] == 105
    graded.write_toml()
    graded.server.cli("rescore", "--lab", "frameworks")


def test_a_new_model_slot_is_not_rescored_and_offers_the_regrade(graded: Graded) -> None:
    before = graded.submission()
    graded.write_toml(extra="""
[[checks]]
id = "second_iris_accuracy"
title = "A second Iris network"
kind = "accuracy"
model = "second_iris_model"
dataset = "iris"
points = 10
full_credit_at = 0.9
no_credit_at = 0.5
""")
    out = graded.server.cli("rescore", "--lab", "frameworks", check=False)
    assert out.returncode == 1
    assert "rescored 0 submissions of lab frameworks" in out.stdout
    assert out.stderr == (
        f"1 submission(s) could not be rescored ({graded.submission_id}): the lab now evaluates a model slot "
        "`second_iris_model` (Iris model) that was not evaluated then\n"
        "regrade them (runs every notebook again: minutes): the dashboard's \"Regrade all\" on "
        "/dashboard/labs/frameworks, or POST /api/v1/labs/frameworks/regrade\n")
    assert graded.submission() == before
    with graded.server.client(graded.instructor) as client:
        body = client.post("/api/v1/labs/frameworks/rescore").json()
    assert body["not_rescored"] == [{
        "reason": "the lab now evaluates a model slot `second_iris_model` (Iris model) that was not evaluated then",
        "submission_ids": [graded.submission_id]}]
    assert body["regrade"] == "POST /api/v1/labs/frameworks/regrade"
    graded.write_toml()


def test_a_submission_graded_before_outputs_were_stored_is_not_rescored(graded: Graded) -> None:
    graded.write_toml()
    graded.execute(f"DELETE FROM stored_outputs WHERE submission_id = {graded.submission_id}")
    out = graded.server.cli("rescore", "--lab", "frameworks", check=False)
    assert out.returncode == 1
    assert out.stderr.startswith(
        f"1 submission(s) could not be rescored ({graded.submission_id}): it was graded before Labgrader stored "
        "evaluation outputs")
    with graded.server.client(graded.instructor) as client:
        assert client.post(f"/api/v1/submissions/{graded.submission_id}/regrade").status_code == 202
    assert graded.server.wait_for(graded.instructor, graded.submission_id)["status"] == "graded"
    assert graded.server.cli("rescore", "--lab", "frameworks").stdout.startswith("rescored 1 submission ")


def test_an_invalid_lab_toml_changes_nothing(graded: Graded) -> None:
    before = graded.submission()
    graded.write_toml(IRIS_CHECK.replace("points = 20", "points = -1"))
    out = graded.server.cli("rescore", "--lab", "frameworks", check=False)
    assert out.returncode == 2
    assert out.stderr.startswith("error: the lab's spec does not validate, so nothing was changed: ")
    line = graded.lab_toml.read_text().splitlines().index("points = -1") + 1
    assert f"lab.toml:{line}: checks[0].points: Input should be greater than 0\n" in out.stderr
    with graded.server.client(graded.instructor) as client:
        answer = client.post("/api/v1/labs/frameworks/rescore")
    assert answer.status_code == 422
    assert graded.submission() == before
    graded.write_toml()
