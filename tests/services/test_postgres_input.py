"""Input PostgreSQL cannot store (SQLite can) is a 422 with a message, never a 500, on the real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_server

pytestmark = pytest.mark.services


def test_a_nul_character_in_a_query_or_path_is_a_422(pg_url: str, tmp_path: Path) -> None:
    server = make_server(tmp_path, LABGRADER_DATABASE_URL=pg_url, LABGRADER_QUEUE="celery",
                         LABGRADER_BROKER_URL="amqp://guest:guest@127.0.0.1:1//")
    server.start()
    try:
        token = server.add_user("prof", "instructor")
        with server.client(token) as client:
            answers = [client.get("/api/v1/submissions", params={"lab_id": "\x00"}),
                       client.post("/api/v1/labs/%00/regrade"),
                       client.get("/api/v1/labs/%00/gradebook.csv")]
            after = client.get("/api/v1/labs")  # the pooled connection was not left broken
    finally:
        server.stop()
    expected = "the request holds a value the database cannot store, such as a NUL character"
    assert [(a.status_code, a.json()["detail"]) for a in answers] == [(422, expected)] * 3
    assert after.status_code == 200
