"""The HTTP API against a real `labgrader serve` process with real sandboxed kernels."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import IRIS_CODE, LiveServer, make_server, notebook_bytes


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = make_server(tmp_path_factory.mktemp("api"), LABGRADER_MAX_UPLOAD_MB="0.05", LABGRADER_MAX_FILES_MB="0.05")
    server.start()
    yield server
    server.stop()


def _count(server: LiveServer, table: str) -> int:
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _upload(server: LiveServer, token: str | None, data: bytes, lab: str = "frameworks"):  # type: ignore[no-untyped-def]
    with server.client(token) as client:
        return client.post(f"/api/v1/labs/{lab}/submissions", files={"notebook": ("lab.ipynb", data)})


def test_healthz_reports_database_queue_and_sandbox(api: LiveServer) -> None:
    with api.client() as client:
        body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] == "sqlite: ok"
    assert body["queue"] == "embedded"
    assert body["sandbox"].startswith("bubblewrap")


def test_labs_list_checks_with_points_and_thresholds(api: LiveServer) -> None:
    token = api.add_user("lab-reader")
    with api.client(token) as client:
        labs = client.get("/api/v1/labs").json()
    frameworks = next(lab for lab in labs if lab["id"] == "frameworks")
    iris = next(c for c in frameworks["checks"] if c["id"] == "iris_accuracy")
    assert iris["thresholds"] == {"full_credit_at": 0.93, "no_credit_at": 0.7}
    assert iris["points"] > 0
    gap = next(c for c in frameworks["checks"] if c["id"] == "overfitting_gap")
    assert gap["thresholds"] == {"full_credit_at": 0.03, "no_credit_at": 0.08, "min_hidden_accuracy": 0.9}


@pytest.mark.parametrize("header", [None, "Bearer lg_not-a-real-token", "Basic abc"])
def test_missing_or_invalid_token_is_401(api: LiveServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with api.client() as client:
        response = client.get("/api/v1/labs", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_body_over_the_server_limit_is_refused_before_authentication(api: LiveServer) -> None:
    """The multipart parser would spool it to disk before the token is checked: the size is checked first."""
    body = b"x" * (2 * 2**20)  # the limit: 0.05 MB of notebook + 0.05 MB of files + 1 MB for the form around them
    expected = "the request body is larger than the 1.1 MB this server accepts"
    with api.client() as client:
        declared = client.post("/api/v1/labs/frameworks/submissions", files={"notebook": ("a.ipynb", body)})
        head = (b'--b\r\nContent-Disposition: form-data; name="notebook"; filename="a.ipynb"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n")
        streamed = client.post("/api/v1/labs/frameworks/submissions",  # chunked: no Content-Length to judge by
                               content=iter([head, body[:2**20], body[2**20:]]),
                               headers={"Content-Type": "multipart/form-data; boundary=b"})
        healthy = client.get("/healthz")
    assert (declared.status_code, declared.json()["detail"]) == (413, expected)
    assert (streamed.status_code, streamed.json()["detail"]) == (413, expected)
    assert healthy.status_code == 200


def test_refused_uploads_say_why_and_store_nothing(api: LiveServer) -> None:
    token = api.add_user("refused")
    before = (_count(api, "submissions"), _count(api, "artifacts"), _count(api, "grading_jobs"))

    unknown = _upload(api, token, notebook_bytes("print(1)"), lab="no-such-lab")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no lab with id 'no-such-lab'")

    big = _upload(api, token, notebook_bytes("x = '" + "a" * 60_000 + "'"))
    assert big.status_code == 413
    assert big.json()["detail"] == "the notebook is larger than the 0.05 MB limit"

    not_json = _upload(api, token, b"{not json")
    assert not_json.status_code == 422
    assert not_json.json()["detail"] == (
        "the upload is not a notebook: line 1 column 2 is not JSON "
        "(Expecting property name enclosed in double quotes)")

    old = _upload(api, token, json.dumps({"nbformat": 2, "worksheets": []}).encode())
    assert old.status_code == 422
    assert old.json()["detail"] == "notebook format 2 is not supported; save it as nbformat 4 (Jupyter 4 or later)"

    no_auth = _upload(api, None, notebook_bytes("print(1)"))
    assert no_auth.status_code == 401

    assert (_count(api, "submissions"), _count(api, "artifacts"), _count(api, "grading_jobs")) == before


def test_round_trip_graded_with_checks_and_executed_notebook(api: LiveServer) -> None:
    token = api.add_user("alice")
    response = _upload(api, token, notebook_bytes(IRIS_CODE))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["student"] == "alice" and body["lab_id"] == "frameworks"
    graded = api.wait_for(token, body["id"])
    assert graded["status"] == "graded"
    checks = {c["id"]: c for c in graded["checks"]}  # type: ignore[union-attr]
    assert checks["iris_accuracy"]["passed"] is True
    assert checks["iris_accuracy"]["score"] == checks["iris_accuracy"]["max_score"]
    assert graded["started_at"] is not None and graded["finished_at"] is not None
    with api.client(token) as client:
        executed = client.get(f"/api/v1/submissions/{body['id']}/notebook")
        listing = client.get("/api/v1/submissions", params={"lab_id": "frameworks"}).json()
    assert executed.status_code == 200
    outputs = json.loads(executed.content)["cells"][0]["outputs"]
    assert any("final loss" in "".join(o.get("text", "")) for o in outputs)
    assert [item["id"] for item in listing["items"]] == [body["id"]]


def test_students_see_only_their_own_submissions(api: LiveServer) -> None:
    owner, other = api.add_user("owner"), api.add_user("other")
    instructor = api.add_user("teacher", "instructor")
    submission = _upload(api, owner, notebook_bytes("print('mine')")).json()
    with api.client(other) as client:
        assert client.get(f"/api/v1/submissions/{submission['id']}").status_code == 404
        assert client.get(f"/api/v1/submissions/{submission['id']}/notebook").status_code == 404
        assert client.get("/api/v1/submissions").json()["items"] == []
        assert client.post(f"/api/v1/submissions/{submission['id']}/regrade").status_code == 403
    with api.client(instructor) as client:
        assert client.get(f"/api/v1/submissions/{submission['id']}").json()["student"] == "owner"
    api.wait_for(owner, submission["id"])


def test_a_raising_cell_is_graded_and_named(api: LiveServer) -> None:
    token = api.add_user("raiser")
    submission = _upload(api, token, notebook_bytes("x = 1", "raise ValueError('bad shape')")).json()
    graded = api.wait_for(token, submission["id"])
    assert graded["status"] == "graded"
    iris = next(c for c in graded["checks"] if c["id"] == "iris_accuracy")  # type: ignore[union-attr]
    assert iris["passed"] is False
    assert "cell 2 raised ValueError: bad shape" in iris["message"]


def test_an_infinite_loop_times_out_and_the_next_job_runs(tmp_path: Path) -> None:
    server = make_server(tmp_path, LABGRADER_CELL_TIMEOUT_S="3", LABGRADER_NOTEBOOK_TIMEOUT_S="30")
    server.start()
    try:
        token = server.add_user("looper")
        looping = _upload(server, token, notebook_bytes("while True:\n    pass", "print('unreached?')")).json()
        graded = server.wait_for(token, looping["id"], timeout_s=120)
        following = _upload(server, token, notebook_bytes("print('next job')")).json()
        after = server.wait_for(token, following["id"], timeout_s=120)
        with server.client(token) as client:
            executed = json.loads(client.get(f"/api/v1/submissions/{following['id']}/notebook").content)
    finally:
        server.stop()
    assert graded["status"] == "graded"
    # the limit is CPU time at the job's share of the cores (one job: every core), whatever the machine's load
    cores = os.cpu_count() or 1
    cpu_limit = 3 * cores
    limits = (f"(the lab's limits: 3 s per cell, 30 s for the whole notebook, in CPU time at {cores} "
              f"core{'' if cores == 1 else 's'}, so a busy worker does not shorten them)")
    computed = (f"cell 1 used its {cpu_limit} s of CPU time and was interrupted; the cells after it ran {limits}. The "
                "networks are graded as they were trained when it stopped, @ s into that cell; train for fewer epochs "
                "or with larger batches to finish within the limits")
    # the backstop leaves out the job's wait for a CPU: only a machine that starves the job below a tenth of its share
    # meets the wall-clock ceiling (10x the limit) first, and says so
    starved = (f"cell 1 was stopped by the wall-clock backstop after @ s (not counting @ s it waited for a CPU behind "
               f"other work) having used only @ s of its {cpu_limit} s of CPU time; the cells after it ran {limits}. "
               "It was waiting rather than computing, so this is not a sign of too many epochs: if the notebook does "
               "not sleep or wait for input, the worker was overloaded and a regrade will run it in full. The "
               "networks are graded as they were trained when it stopped")
    note = str(graded["note"])
    assert any(re.fullmatch(re.escape(n).replace("@", r"\d+"), note) for n in (computed, starved)), note
    iris = next(c for c in graded["checks"] if c["id"] == "iris_accuracy")  # type: ignore[union-attr]
    assert (f"cell 1 raised CellTimeout: the cell used {cpu_limit} s of CPU time and was interrupted" in iris["message"]
            or "cell 1 raised CellTimeout: the cell ran longer than 30 s and was interrupted" in iris["message"])
    assert after["status"] == "graded" and after["note"] is None
    assert "".join(executed["cells"][0]["outputs"][0]["text"]) == "next job\n"
