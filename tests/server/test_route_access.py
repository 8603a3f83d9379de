"""Every route of the app, walked: each is in the public allow-list, or refuses a request without credentials, a
student's credentials on instructor routes, and another student's ids exactly as if they did not exist. A route
added without a row in ACCESS fails here, and so does one whose dependencies never ask who is calling.

Requests go to a real `labgrader serve`; the route list comes from `create_app` itself (`app.routes`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from server.app import create_app
from server.auth import current_user
from server.dashboard.access import current_viewer
from server.db import transaction
from server.metrics import require_scraper
from server.settings import Settings
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.pages import csrf_of, logged_in
from tests.server.dashboard.seed import graded_submission, server_factory


class Access(StrEnum):
    PUBLIC = "public"  # anyone, no credentials (the allow-list)
    SIGNED_IN = "signed in"  # any valid user, acting on their own behalf
    OWN = "own"  # a student-owned object: its owner and instructors; anyone else gets the 404 of a missing id
    STAFF = "instructor or TA"  # a TA may: view, comment, override, regrade one submission
    INSTRUCTOR = "instructor"


ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): Access.PUBLIC,
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/docs"): Access.PUBLIC,
    ("GET", "/docs/assets/{name}"): Access.PUBLIC,
    ("GET", "/assets/{name}"): Access.PUBLIC,
    ("GET", "/"): Access.PUBLIC,
    ("GET", "/login"): Access.PUBLIC,
    ("POST", "/login"): Access.PUBLIC,
    ("GET", "/metrics"): Access.INSTRUCTOR,  # or LABGRADER_METRICS_TOKEN (tests/services/test_metrics.py)
    ("GET", "/api/v1/labs"): Access.SIGNED_IN,
    ("POST", "/api/v1/labs/{lab_id}/submissions"): Access.SIGNED_IN,
    ("GET", "/api/v1/submissions"): Access.SIGNED_IN,
    ("GET", "/api/v1/submissions/{submission_id}"): Access.OWN,
    ("GET", "/api/v1/submissions/{submission_id}/notebook"): Access.OWN,
    ("GET", "/api/v1/submissions/{submission_id}/learning-curve.png"): Access.OWN,
    ("GET", "/api/v1/submissions/{submission_id}/progress"): Access.OWN,
    ("POST", "/api/v1/submissions/{submission_id}/regrade"): Access.STAFF,
    ("POST", "/api/v1/submissions/{submission_id}/overrides"): Access.STAFF,
    ("DELETE", "/api/v1/submissions/{submission_id}/overrides"): Access.STAFF,
    ("POST", "/api/v1/submissions/{submission_id}/count"): Access.STAFF,
    ("GET", "/api/v1/labs/{lab_id}/students/{name}/grade"): Access.OWN,
    ("DELETE", "/api/v1/labs/{lab_id}/students/{name}/count"): Access.STAFF,
    ("PUT", "/api/v1/labs/{lab_id}/students/{name}/extension"): Access.INSTRUCTOR,
    ("DELETE", "/api/v1/labs/{lab_id}/students/{name}/extension"): Access.INSTRUCTOR,
    ("PUT", "/api/v1/labs/{lab_id}/students/{name}/excusal"): Access.INSTRUCTOR,
    ("DELETE", "/api/v1/labs/{lab_id}/students/{name}/excusal"): Access.INSTRUCTOR,
    ("POST", "/api/v1/labs/{lab_id}/regrade"): Access.INSTRUCTOR,
    ("POST", "/api/v1/labs/{lab_id}/rescore"): Access.INSTRUCTOR,
    ("GET", "/api/v1/labs/{lab_id}/gradebook.csv"): Access.STAFF,
    ("POST", "/api/v1/users/{name}/reset-token"): Access.INSTRUCTOR,
    ("POST", "/api/v1/users/{name}/revoke"): Access.INSTRUCTOR,
    ("POST", "/api/v1/users/{name}/disable"): Access.INSTRUCTOR,
    ("POST", "/api/v1/users/{name}/enable"): Access.INSTRUCTOR,
    ("DELETE", "/api/v1/users/{name}"): Access.INSTRUCTOR,
    ("POST", "/logout"): Access.SIGNED_IN,
    ("GET", "/me"): Access.SIGNED_IN,
    ("POST", "/me/submissions"): Access.SIGNED_IN,
    ("GET", "/status.json"): Access.SIGNED_IN,
    ("GET", "/me/submissions/{submission_id}"): Access.OWN,
    ("GET", "/me/labs/{lab_id}/starter.ipynb"): Access.SIGNED_IN,
    ("GET", "/me/submissions/{submission_id}/notebook.ipynb"): Access.OWN,
    ("GET", "/me/submissions/{submission_id}/files/{file_index}"): Access.OWN,
    ("GET", "/me/submissions/{submission_id}/learning-curve.png"): Access.OWN,
    ("GET", "/dashboard"): Access.STAFF,
    ("GET", "/dashboard/gradebook"): Access.STAFF,
    ("GET", "/dashboard/gradebook/export.csv"): Access.STAFF,
    ("GET", "/dashboard/students/{name}"): Access.STAFF,
    ("GET", "/dashboard/labs/{lab_id}"): Access.STAFF,
    ("GET", "/dashboard/labs/{lab_id}/checks/{check_id}"): Access.STAFF,
    ("GET", "/dashboard/labs/{lab_id}/progress.json"): Access.STAFF,
    ("GET", "/dashboard/labs/{lab_id}/regrade"): Access.INSTRUCTOR,
    ("POST", "/dashboard/labs/{lab_id}/regrade"): Access.INSTRUCTOR,
    ("POST", "/dashboard/labs/{lab_id}/rescore"): Access.INSTRUCTOR,
    ("GET", "/dashboard/labs/{lab_id}/export"): Access.STAFF,
    ("GET", "/dashboard/submissions"): Access.STAFF,
    ("GET", "/dashboard/submissions/{submission_id}"): Access.STAFF,
    ("POST", "/dashboard/submissions/{submission_id}/regrade"): Access.STAFF,
    ("POST", "/dashboard/submissions/{submission_id}/{action}"): Access.STAFF,  # extension, excuse: instructors
    ("GET", "/dashboard/submissions/{submission_id}/notebook.ipynb"): Access.STAFF,
    ("GET", "/dashboard/submissions/{submission_id}/learning-curve.png"): Access.STAFF,
    ("GET", "/dashboard/roster"): Access.INSTRUCTOR,
    ("POST", "/dashboard/roster/users/{name}/{action}"): Access.INSTRUCTOR,
    ("POST", "/dashboard/roster/users"): Access.INSTRUCTOR,
    ("POST", "/dashboard/roster/import"): Access.INSTRUCTOR,
    # campus logins (docs/lti.md): an LMS or a provider calls these without credentials; each checks what it is sent
    ("GET", "/lti/jwks.json"): Access.PUBLIC,
    ("GET", "/lti/login"): Access.PUBLIC,
    ("POST", "/lti/login"): Access.PUBLIC,
    ("POST", "/lti/launch"): Access.PUBLIC,
    ("GET", "/sso/login"): Access.PUBLIC,
    ("GET", "/sso/callback"): Access.PUBLIC,
    ("GET", "/account/token"): Access.SIGNED_IN,
    ("POST", "/account/token"): Access.SIGNED_IN,
    ("GET", "/api/v1/lti/passbacks"): Access.INSTRUCTOR,
    ("GET", "/dashboard/lti/platforms"): Access.INSTRUCTOR,  # registering an LMS is not a TA's
    ("POST", "/dashboard/lti/platforms"): Access.INSTRUCTOR,
    ("GET", "/dashboard/lti/passbacks"): Access.INSTRUCTOR,
    ("POST", "/dashboard/lti/passbacks/{passback_id}/retry"): Access.INSTRUCTOR,
}

CALLER_CHECKS = {current_user, current_viewer, require_scraper}  # a route's dependencies must include one
ASSET_NAMES = {"/docs/assets/{name}": "swagger-ui.css", "/assets/{name}": "dashboard.css"}
MISSING_ID = 987654


def app_routes(tmp_path: Path) -> list[tuple[str, str, Dependant | None]]:
    """(method, path, dependant) of every route of the app, routers included (FastAPI nests them lazily)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}", data_dir=tmp_path / "data"))
    found: list[tuple[str, str, Dependant | None]] = []
    for route in iter_route_contexts(app.routes):
        methods = sorted((route.methods or set()) - {"HEAD"})
        dependant = route.dependant if isinstance(route.original_route, APIRoute) else None
        found.extend((method, str(route.path), dependant) for method in methods)
    assert len(found) > 40, found  # the nested routers were walked
    return found


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def test_every_route_is_classified_and_every_non_public_route_asks_who_is_calling(tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    unclassified = sorted(f"{m} {p}" for m, p, _ in routes if (m, p) not in ACCESS)
    assert unclassified == [], "new routes: add each to ACCESS (and docs/security.md) with who may call it"
    gone = sorted(f"{m} {p}" for m, p in ACCESS if (m, p) not in {(m2, p2) for m2, p2, _ in routes})
    assert gone == []
    for method, path, dependant in routes:
        if ACCESS[(method, path)] is Access.PUBLIC:
            continue
        assert dependant is not None, f"{method} {path} is not a FastAPI route: it cannot declare who may call it"
        calls = set(_calls(dependant))
        assert calls & CALLER_CHECKS, f"{method} {path} never resolves the caller"


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    server = make_server(tmp_path_factory.mktemp("routes"))
    server.start()
    tokens = {"prof": server.add_user("prof", "instructor"), "ann": server.add_user("ann"),
              "ben": server.add_user("ben"), "tess": server.add_user("tess", "ta")}
    with transaction(server_factory(server.workdir / "labgrader.db")) as session:
        ann_sub = graded_submission(session, "ann", datetime(2026, 11, 20, 10), [20, 10, 0, 0, 15])
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        hashes = [row[0] for row in conn.execute("SELECT token_hash FROM users ORDER BY id")]
    yield server, {"tokens": tokens, "ann_sub": ann_sub, "hashes": hashes}
    server.stop()


def _url(path: str, submission_id: int) -> str:
    args = {"submission_id": str(submission_id), "lab_id": "frameworks", "check_id": "iris_accuracy",
            "name": ASSET_NAMES.get(path, "ann"), "action": "disable", "passback_id": str(submission_id),
            "file_index": "0"}
    return re.sub(r"\{(\w+)\}", lambda m: args[m.group(1)], path)


def _send(client: httpx.Client, method: str, path: str, submission_id: int, csrf: str = "") -> httpx.Response:
    data = {"csrf_token": csrf, "name": "mallory", "role": "instructor", "lab_id": "frameworks"} if method == "POST" \
        else None
    return client.request(method, _url(path, submission_id), data=data, follow_redirects=False)


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/metrics"


def test_each_route_refuses_who_it_must(walked: tuple[LiveServer, dict[str, Any]], tmp_path: Path) -> None:
    server, seeded = walked
    tokens, ann_sub = seeded["tokens"], seeded["ann_sub"]
    checked = 0
    with (httpx.Client(base_url=server.url, timeout=60) as anonymous,
          server.client(tokens["ben"]) as ben_api,
          logged_in(server, tokens["ben"]) as (ben_page, ben_csrf),
          server.client(tokens["tess"]) as ta_api,
          logged_in(server, tokens["tess"]) as (ta_page, ta_csrf)):
        for method, path, _dependant in app_routes(tmp_path):
            access = ACCESS[(method, path)]
            api = _is_api(path)
            nobody = _send(anonymous, method, path, ann_sub)
            if access is Access.PUBLIC:
                # reachable without credentials (POST /login still wants its login-form CSRF cookie: 403)
                assert nobody.status_code in (200, 303, 403), (method, path, nobody.status_code)
                continue
            if api:
                assert nobody.status_code == 401, (method, path, nobody.text)
                assert nobody.json() == {"detail": "missing bearer token: send 'Authorization: Bearer <token>'"}
            elif method == "GET":
                assert nobody.status_code == 303, (method, path)
                assert nobody.headers["location"].startswith("/login?next=")
            else:
                assert nobody.status_code == 401, (method, path)
                assert "Your session has ended. Log in again and repeat the action." in nobody.text
            checked += 1
            if access is Access.SIGNED_IN:  # any user acts on their own behalf (POST /logout would end ben's session)
                continue
            student = ben_api if api else ben_page
            as_ben = _send(student, method, path, ann_sub, ben_csrf)
            if access in (Access.INSTRUCTOR, Access.STAFF):
                assert as_ben.status_code == 403, (method, path, as_ben.status_code, as_ben.text[:300])
            if access is Access.INSTRUCTOR:  # a TA administers neither the roster nor the labs
                as_ta = _send(ta_api if api else ta_page, method, path, ann_sub, ta_csrf)
                assert as_ta.status_code == 403, (method, path, as_ta.status_code, as_ta.text[:300])
            elif access is Access.OWN:
                missing = _send(student, method, path, MISSING_ID, ben_csrf)
                assert (as_ben.status_code, as_ben.text.replace(f"id {ann_sub}", "id N")) == (
                    404, missing.text.replace(f"id {MISSING_ID}", "id N")), (method, path)
    # nothing a refused request asked for happened: no user was added, changed or removed, no job was queued
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        users = conn.execute("SELECT name, token_hash, disabled_at, token_revoked_at FROM users ORDER BY id").fetchall()
        jobs = conn.execute("SELECT count(*) FROM grading_jobs").fetchone()
    assert [(u[0], u[2], u[3]) for u in users] == [("prof", None, None), ("ann", None, None), ("ben", None, None),
                                                   ("tess", None, None)]
    assert [u[1] for u in users] == seeded["hashes"]
    assert jobs == (1,)  # the seeded one
    assert checked == sum(1 for a in ACCESS.values() if a is not Access.PUBLIC)


def test_the_owner_and_instructors_do_reach_student_owned_objects(walked: tuple[LiveServer, dict[str, Any]]) -> None:
    server, seeded = walked
    tokens, ann_sub = seeded["tokens"], seeded["ann_sub"]
    with server.client(tokens["ann"]) as ann, server.client(tokens["prof"]) as prof:
        for client in (ann, prof):
            assert client.get(f"/api/v1/submissions/{ann_sub}").json()["student"] == "ann"
    with logged_in(server, tokens["ann"]) as (page, _csrf):
        assert page.get(f"/me/submissions/{ann_sub}").status_code == 200
    with logged_in(server, tokens["prof"]) as (page, csrf):
        assert page.get(f"/dashboard/submissions/{ann_sub}").status_code == 200
        assert csrf == csrf_of(page.get("/dashboard/roster").text)
