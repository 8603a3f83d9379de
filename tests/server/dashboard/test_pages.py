"""The pages against a real `labgrader serve`: login, cookies, CSRF, roles, roster, exports (no browser)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from server.db import transaction
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.pages import csrf_of, logged_in
from tests.server.dashboard.seed import graded_submission, server_factory


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("pages"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def people(site: LiveServer) -> dict[str, object]:
    tokens = {"prof": site.add_user("prof", "instructor"), "ann": site.add_user("ann"), "ben": site.add_user("ben")}
    with transaction(server_factory(site.workdir / "labgrader.db")) as session:
        ann_sub = graded_submission(session, "ann", datetime(2026, 11, 20, 10), [20, 10, 0, 0, 15])
        ben_sub = graded_submission(session, "ben", datetime(2026, 11, 20, 11), [20, 20, 30, 15, 15])
    return {"tokens": tokens, "ann_sub": ann_sub, "ben_sub": ben_sub}


def test_login_sets_an_httponly_lax_session_cookie_and_sends_instructors_to_the_dashboard(site: LiveServer,
                                                                                         people: dict) -> None:
    with site.client() as client:
        form = client.get("/login")
        assert "labgrader_login_csrf=" in form.headers["set-cookie"]
        response = client.post("/login", data={"token": people["tokens"]["prof"], "csrf_token": csrf_of(form.text),
                                               "next": ""}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("labgrader_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags


def test_a_wrong_token_is_refused_with_a_message(site: LiveServer, people: dict) -> None:
    with site.client() as client:
        form = client.get("/login")
        response = client.post("/login", data={"token": "lg_wrong", "csrf_token": csrf_of(form.text)})
    assert response.status_code == 401
    assert "That token is not valid. Paste the whole token, starting with lg_." in response.text
    assert "labgrader_session=" not in response.headers.get("set-cookie", "")


def test_login_without_the_login_csrf_cookie_is_refused(site: LiveServer, people: dict) -> None:
    with site.client() as client:
        response = client.post("/login", data={"token": people["tokens"]["prof"], "csrf_token": "forged"})
    assert response.status_code == 403
    assert "CSRF token is missing or does not match" in response.text


def test_login_never_redirects_off_site(site: LiveServer, people: dict) -> None:
    with site.client() as client:
        form = client.get("/login")
        response = client.post("/login", data={"token": people["tokens"]["ann"], "csrf_token": csrf_of(form.text),
                                               "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/me"


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/submissions?sort=score", "/me", "/dashboard/roster"])
def test_pages_without_a_session_redirect_to_login(site: LiveServer, path: str) -> None:
    with site.client() as client:
        response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2F")


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/labs/frameworks", "/dashboard/submissions",
                                  "/dashboard/roster", "/dashboard/labs/frameworks/export?format=csv",
                                  "/dashboard/labs/frameworks/progress.json"])
def test_students_get_403_on_every_instructor_page(site: LiveServer, people: dict, path: str) -> None:
    with logged_in(site, people["tokens"]["ann"]) as (client, _):
        response = client.get(path)
    assert response.status_code == 403
    who = "instructors" if path == "/dashboard/roster" else "instructors and TAs"
    assert f"this page is for {who}; your own results are at /me" in response.text


def test_students_cannot_post_instructor_forms_even_with_their_csrf_token(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["ann"]) as (client, csrf):
        for path in ["/dashboard/labs/frameworks/regrade", f"/dashboard/submissions/{people['ann_sub']}/regrade",
                     "/dashboard/roster/users"]:
            response = client.post(path, data={"csrf_token": csrf, "name": "mallory", "role": "instructor"})
            assert response.status_code == 403, path
    assert "mallory" not in site.cli("export", "--lab", "frameworks").stdout


def test_a_student_sees_only_their_own_submission_pages(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["ann"]) as (client, _):
        own = client.get(f"/me/submissions/{people['ann_sub']}")
        other = client.get(f"/me/submissions/{people['ben_sub']}")
        other_curve = client.get(f"/me/submissions/{people['ben_sub']}/learning-curve.png")
        other_status = client.get(f"/status.json?ids={people['ann_sub']},{people['ben_sub']}").json()
        listing = client.get("/me").text
    assert own.status_code == 200
    assert "mnist_single_layer_accuracy: 10" in own.text
    assert other.status_code == 404
    assert f"no submission with id {people['ben_sub']}" in other.text
    assert other_curve.status_code == 404
    assert [s["id"] for s in other_status["submissions"]] == [people["ann_sub"]]
    assert f'href="/me/submissions/{people["ben_sub"]}"' not in listing


def test_student_pages_never_show_the_grading_report(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["ann"]) as (client, _):
        page = client.get(f"/me/submissions/{people['ann_sub']}").text
    assert "Cell errors" not in page
    assert "Isolation" not in page
    assert "What the grader found" not in page


def test_every_form_post_needs_the_session_csrf_token(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["prof"]) as (client, csrf):
        for path in ["/logout", "/dashboard/labs/frameworks/regrade", "/dashboard/roster/users", "/me/submissions",
                     f"/dashboard/submissions/{people['ann_sub']}/regrade"]:
            response = client.post(path, data={"csrf_token": csrf + "x", "name": "eve", "role": "student"})
            assert response.status_code == 403, path
            assert "CSRF token is missing or does not match" in response.text
        assert client.get("/dashboard").status_code == 200  # still logged in: the refused logout did nothing
    assert "eve" not in site.cli("export", "--lab", "frameworks").stdout


def test_pages_carry_a_strict_content_security_policy(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["prof"]) as (client, _):
        response = client.get(f"/dashboard/submissions/{people['ann_sub']}")
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_roster_adds_a_user_and_shows_the_token_once(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["prof"]) as (client, csrf):
        created = client.post("/dashboard/roster/users", data={"csrf_token": csrf, "name": "cleo", "role": "student"})
        token = created.text.split('<code class="token">')[1].split("</code>")[0]
        imported = client.post("/dashboard/roster/import", data={"csrf_token": csrf},
                               files={"roster": ("r.csv", b"name,role\ndan,student\neli,instructor\n", "text/csv")})
        roster = client.get("/dashboard/roster").text
    assert created.status_code == 201
    assert token.startswith("lg_")
    assert token not in roster
    assert imported.status_code == 201, imported.text[-800:]
    assert imported.text.count('<code class="token">') == 2
    with site.client(token) as api:
        assert api.get("/api/v1/labs").status_code == 200


def test_roster_import_errors_name_the_line(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["prof"]) as (client, csrf):
        response = client.post("/dashboard/roster/import", data={"csrf_token": csrf},
                               files={"roster": ("r.csv", b"name,role\nfay,student\nfay,student\n", "text/csv")})
    assert response.status_code == 422
    # on the roster page it came from, at the top, not a dead-end error page
    assert ('<p class="problem" role="alert" id="roster-error">The roster was not imported: roster line 3: '
            '&#39;fay&#39; is already on line 2') in response.text
    assert 'id="roster-table"' in response.text


def test_roster_import_is_an_upsert_with_a_summary(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["prof"]) as (client, csrf):
        response = client.post("/dashboard/roster/import", data={"csrf_token": csrf}, files={"roster": (
            "r.csv", b"name,full_name,email\nann,Ann Lee,ann@uni.example\ngus,Gus Moe,gus@uni.example\n", "text/csv")})
    assert response.status_code == 201, response.text[-800:]
    assert ('<p class="done" role="status" id="import-summary">Roster imported: 1 added, 1 updated, 0 unchanged '
            '(Labgrader roster). Updated: ann.</p>') in response.text
    assert response.text.count('<code class="token">') == 1


def test_logout_ends_the_session(site: LiveServer, people: dict) -> None:
    with logged_in(site, people["tokens"]["prof"]) as (client, csrf), \
            logged_in(site, people["tokens"]["prof"]) as (other_device, _):
        copied = client.cookies["labgrader_session"]
        response = client.post("/logout", data={"csrf_token": csrf})
        assert response.headers["location"] == "/login"
        assert client.get("/dashboard").status_code == 303
        # the server ended it too: a copy of the cookie, or the same user's other browser, is logged out
        with httpx.Client(base_url=site.url, cookies={"labgrader_session": copied}) as replay:
            assert replay.get("/dashboard").status_code == 303
        assert other_device.get("/dashboard").status_code == 303
    with logged_in(site, people["tokens"]["prof"]) as (again, _):  # logging in again works at once
        assert again.get("/dashboard").status_code == 200


def test_the_gradebook_api_needs_an_instructor_or_ta_token(site: LiveServer, people: dict) -> None:
    with site.client(people["tokens"]["prof"]) as client:
        response = client.get("/api/v1/labs/frameworks/gradebook.csv")
        canvas = client.get("/api/v1/labs/frameworks/gradebook.csv?format=canvas")
    with site.client(people["tokens"]["ann"]) as client:
        refused = client.get("/api/v1/labs/frameworks/gradebook.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert (rows["ann"]["score"], rows["ben"]["score"]) == ("45", "100")
    assert next(csv.reader(io.StringIO(canvas.text)))[0] == "Student"
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this needs an instructor's or a TA's token"}


def test_cli_export_prints_each_format(site: LiveServer, people: dict) -> None:
    gradescope = json.loads(site.cli("export", "--lab", "frameworks", "--format", "gradescope").stdout)
    assert {s["student"]: s["results"]["score"] for s in gradescope["students"]} == {"ann": 45, "ben": 100}
    canvas = site.cli("export", "--lab", "frameworks", "--format", "canvas").stdout.splitlines()
    assert canvas[1] == "Points Possible,,,,,100"
    missing = site.cli("export", "--lab", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (2, "error: no lab with id 'nope'\n")


def test_ids_beyond_any_submission_are_404_or_ignored_not_a_server_error(site: LiveServer, people: dict) -> None:
    huge = str(10**30)
    with logged_in(site, people["tokens"]["prof"]) as (client, _):
        detail = client.get(f"/dashboard/submissions/{huge}")
        status = client.get("/status.json", params={"ids": f"{huge},{people['ann_sub']}"})
    assert detail.status_code == 404
    assert status.status_code == 200
    assert [s["id"] for s in status.json()["submissions"]] == [people["ann_sub"]]
