"""A user's life after creation over the CLI and the API against a real `labgrader serve`: reset, revoke, disable,
enable, delete, each audited; an instructor cannot lock themselves out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from server.users.models import AuditEvent
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.seed import server_factory


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("lifecycle"))
    server.start()
    yield server
    server.stop()


def _status(server: LiveServer, token: str) -> int:
    with server.client(token) as client:
        return client.get("/api/v1/submissions").status_code


def test_the_roster_lifecycle_over_cli_and_api_is_enforced_and_audited(site: LiveServer) -> None:
    prof, ann, ben, cat = (site.add_user("prof", "instructor"), site.add_user("ann"), site.add_user("ben"),
                           site.add_user("cat"))

    reset = json.loads(site.cli("users", "reset-token", "ann", "--json").stdout)
    assert (reset["name"], reset["role"]) == ("ann", "student") and reset["token"] != ann
    assert (_status(site, ann), _status(site, reset["token"])) == (401, 200)

    with site.client(prof) as client:
        revoked = client.post("/api/v1/users/ben/revoke")
        assert revoked.status_code == 200 and revoked.json()["token_revoked"] is True
        assert _status(site, ben) == 401
        fresh = client.post("/api/v1/users/ben/reset-token").json()["token"]
        assert _status(site, fresh) == 200
        assert client.post("/api/v1/users/prof/disable").json() == {
            "detail": "you cannot disable your own account; ask another instructor"}
        assert client.post("/api/v1/users/nobody/revoke").status_code == 404

    out = site.cli("users", "disable", "ann")
    assert out.stdout.strip() == "ann is disabled"
    with site.client(reset["token"]) as client:
        refused = client.get("/api/v1/submissions")
    assert (refused.status_code, refused.json()) == (403, {"detail": "this account is disabled: ask your instructor"})
    site.cli("users", "enable", "ann")
    assert _status(site, reset["token"]) == 200

    unconfirmed = site.cli("users", "delete", "cat", check=False)
    assert (unconfirmed.returncode, unconfirmed.stderr.strip()) == (
        2, "error: deleting cat removes all their submissions too; repeat with --yes to confirm")
    with site.client(prof) as client:
        assert client.delete("/api/v1/users/cat").json() == {"name": "cat", "deleted_submissions": 0}
        student = client.post("/api/v1/users/ann/revoke", headers={"Authorization": f"Bearer {fresh}"})
    assert student.status_code == 403  # a student's token cannot change the roster
    assert _status(site, cat) == 401

    with server_factory(site.workdir / "labgrader.db")() as session:
        events = session.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.target)
                                 .order_by(AuditEvent.id)).tuples().all()
    cli_actor = next(a for a, _, _ in events if a.startswith("cli:"))
    assert events == [(cli_actor, "reset-token", "ann"), ("prof", "revoke", "ben"), ("prof", "reset-token", "ben"),
                      (cli_actor, "disable", "ann"), (cli_actor, "enable", "ann"), ("prof", "delete", "cat")]


def test_a_lab_regrade_over_the_api_takes_a_scope(site: LiveServer) -> None:
    prof = site.add_user("prof2", "instructor")
    with site.client(prof) as client:
        assert client.post("/api/v1/labs/frameworks/regrade?scope=errors").json() == {
            "queued": 0, "submission_ids": []}
        wrong = client.post("/api/v1/labs/frameworks/regrade?scope=some")
    assert wrong.status_code == 422
    assert "scope" in wrong.json()["detail"]
