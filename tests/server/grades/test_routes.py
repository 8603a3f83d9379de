"""The decision routes against a real `labgrader serve`: who may do what (student, TA, instructor), what the student
then sees through the API, and the submission page's forms with their result or refusal at the top."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from server.db import transaction
from tests.conftest import LiveServer, make_server
from tests.server.dashboard.pages import logged_in
from tests.server.dashboard.seed import graded_submission, migrated_factory

FULL = [20, 20, 30, 15, 15]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    server = make_server(tmp_path_factory.mktemp("grades"))
    tokens = {"prof": server.add_user("prof", "instructor"), "tess": server.add_user("tess", "ta"),
              "ada": server.add_user("ada"), "bob": server.add_user("bob")}
    factory = migrated_factory(server.workdir / "labgrader.db")
    with transaction(factory) as session:
        graded_submission(session, "ada", datetime(2026, 11, 30, 9), FULL)  # 1
        graded_submission(session, "ada", datetime(2026, 12, 1, 9), [20, 20, 30, 15, 0])  # 2, counts (latest)
        graded_submission(session, "bob", datetime(2026, 12, 1, 9), FULL)  # 3
    server.start()
    yield server, tokens
    server.stop()


def test_a_ta_overrides_a_check_and_the_student_reads_who_did_it_and_why(course) -> None:  # type: ignore[no-untyped-def]
    server, tokens = course
    with server.client(tokens["tess"]) as ta:
        set_it = ta.post("/api/v1/submissions/2/overrides",
                         json={"check_id": "early_stopping", "score": 7.5, "comment": "stopped by hand at epoch 9"})
    assert set_it.status_code == 200, set_it.text
    with server.client(tokens["ada"]) as ada:
        mine = ada.get("/api/v1/submissions/2").json()
        grade = ada.get("/api/v1/labs/frameworks/students/ada/grade").json()
        others = ada.get("/api/v1/labs/frameworks/students/bob/grade")
    assert (mine["score"], mine["counted_score"], mine["counts"], mine["days_late"], mine["penalty"]) == (
        85.0, 92.5, True, 0, 0.0)
    assert mine["reason"] == "check early_stopping set to 7.5 by tess: stopped by hand at epoch 9"
    assert [(d["kind"], d["by"], d["comment"], d["check_id"]) for d in mine["decisions"]] == [
        ("override", "tess", "stopped by hand at epoch 9", "early_stopping")]
    assert mine["checks"][4]["score"] == 0.0
    assert (mine["checks"][4]["counted_score"], mine["checks"][4]["override"]) == (
        7.5, "check early_stopping set to 7.5 by tess: stopped by hand at epoch 9")
    assert (grade["submission_id"], grade["score"], grade["counted_score"], grade["excused"]) == (2, 85.0, 92.5, False)
    assert (others.status_code, others.json()) == (404, {"detail": "no user named 'bob'"})


@pytest.mark.parametrize(("who", "method", "path", "body", "status", "detail"), [
    ("ada", "post", "/api/v1/submissions/2/overrides", {"score": 100, "comment": "mine"}, 403,
     "this needs an instructor's or a TA's token"),
    ("ada", "post", "/api/v1/submissions/2/count", {"comment": "mine"}, 403,
     "this needs an instructor's or a TA's token"),
    ("ada", "put", "/api/v1/labs/frameworks/students/ada/extension", {"penalty_per_day": 0, "comment": "me"}, 403,
     "this needs an instructor's token"),
    ("tess", "put", "/api/v1/labs/frameworks/students/ada/extension", {"penalty_per_day": 0, "comment": "x"}, 403,
     "this needs an instructor's token"),
    ("tess", "put", "/api/v1/labs/frameworks/students/ada/excusal", {"comment": "x"}, 403,
     "this needs an instructor's token"),
    ("tess", "post", "/api/v1/users/ada/reset-token", None, 403, "this needs an instructor's token"),
    ("tess", "post", "/api/v1/labs/frameworks/rescore", None, 403, "this needs an instructor's token"),
    ("prof", "post", "/api/v1/submissions/99999/overrides", {"score": 1, "comment": "x"}, 404,
     "no submission with id 99999"),
    ("prof", "put", "/api/v1/labs/frameworks/students/nobody/excusal", {"comment": "x"}, 404,
     "no user named 'nobody'"),
    ("prof", "post", "/api/v1/submissions/3/overrides", {"check_id": "iris_accuracy", "score": 25, "comment": "x"},
     422, "the score of check iris_accuracy must be between 0 and 20, not 25"),
])
def test_each_decision_route_checks_the_role_and_the_input(course, who: str, method: str,  # type: ignore[no-untyped-def]
                                                           path: str, body: dict | None, status: int,
                                                           detail: str) -> None:
    server, tokens = course
    with server.client(tokens[who]) as client:
        response = client.request(method.upper(), path, json=body)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_a_ta_sees_every_submission_and_a_student_only_their_own(course) -> None:  # type: ignore[no-untyped-def]
    server, tokens = course
    with server.client(tokens["tess"]) as ta, server.client(tokens["bob"]) as bob:
        seen = ta.get("/api/v1/submissions?lab_id=frameworks").json()
        hidden = bob.get("/api/v1/submissions/1")
    assert sorted(s["id"] for s in seen["items"]) == [1, 2, 3]
    assert (hidden.status_code, hidden.json()) == (404, {"detail": "no submission with id 1"})


def test_the_page_shows_a_refusal_at_the_top_and_a_success_after_the_redirect(course) -> None:  # type: ignore[no-untyped-def]
    server, tokens = course
    with logged_in(server, tokens["prof"]) as (client, csrf):
        refused = client.post("/dashboard/submissions/3/extension",
                              data={"csrf_token": csrf, "deadline": "next friday", "comment": "flu"})
        done = client.post("/dashboard/submissions/3/excuse", data={"csrf_token": csrf, "comment": "joined late"})
        after = client.get(done.headers["location"])
        forged = client.post("/dashboard/submissions/3/count", data={"csrf_token": "nope", "comment": "x"})
    assert refused.status_code == 422
    assert ('<div id="action-result" class="action-result" tabindex="-1" aria-live="polite" autofocus><p '
            'class="problem" role="alert">Deadline \'next friday\' is not an ISO 8601 date-time such as '
            '2026-12-01T23:59:00Z</p></div>') in refused.text.replace("&#39;", "'")
    assert (done.status_code, done.headers["location"]) == (303, "/dashboard/submissions/3?done=excuse#action-result")
    assert '<p class="done">The student is excused from this lab.</p>' in after.text
    assert "<strong>bob is excused from this lab</strong>: no submission counts (excused by prof: joined late)." \
        in after.text
    assert forged.status_code == 403
    with server.client(tokens["bob"]) as bob:
        grade = bob.get("/api/v1/labs/frameworks/students/bob/grade").json()
    assert (grade["excused"], grade["counted_score"], grade["reason"]) == (True, None, "excused by prof: joined late")


def test_the_cli_prints_the_graded_and_the_counted_score_of_the_apis_answer(course) -> None:  # type: ignore[no-untyped-def]
    from server.cli.render import format_report

    server, tokens = course
    with server.client(tokens["prof"]) as prof:
        assert prof.post("/api/v1/submissions/1/overrides",
                         json={"score": 90, "comment": "plot copied from the lecture"}).status_code == 200
    with server.client(tokens["ada"]) as ada:
        answer = ada.get("/api/v1/submissions/1").json()
    assert format_report(answer).splitlines()[-2:] == [
        "Score: 100 / 100 as graded",
        "Counted: 90 / 100 (submission 1's score set to 90 by prof: plot copied from the lecture; does not count: "
        "another submission does)"]


# every route a TA may not use, and what it answers: the roster, lab administration, extensions and excusals
TA_REFUSED_API = {
    ("POST", "/api/v1/labs/{lab_id}/regrade"), ("POST", "/api/v1/labs/{lab_id}/rescore"),
    ("PUT", "/api/v1/labs/{lab_id}/students/{name}/extension"),
    ("DELETE", "/api/v1/labs/{lab_id}/students/{name}/extension"),
    ("PUT", "/api/v1/labs/{lab_id}/students/{name}/excusal"),
    ("DELETE", "/api/v1/labs/{lab_id}/students/{name}/excusal"),
    ("POST", "/api/v1/users/{name}/reset-token"), ("POST", "/api/v1/users/{name}/revoke"),
    ("POST", "/api/v1/users/{name}/disable"), ("POST", "/api/v1/users/{name}/enable"),
    ("DELETE", "/api/v1/users/{name}"),
    ("GET", "/api/v1/lti/passbacks"),  # the LMS ledger is course administration
}
PATH_VALUES = {"lab_id": "frameworks", "submission_id": "3", "name": "bob", "check_id": "iris_accuracy",
               "action": "excuse", "job_id": "1"}


def _api_routes(tmp: str) -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 route, from the app's own OpenAPI document."""
    from server.app import create_app
    from server.settings import Settings

    paths = create_app(Settings(database_url=f"sqlite:///{tmp}/walk.db")).openapi()["paths"]
    return sorted((method.upper(), path) for path, methods in paths.items() if path.startswith("/api/v1")
                  for method in methods)


def test_every_api_route_lets_a_ta_do_only_what_a_ta_may(course, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Walks every /api/v1 route as a TA: the administrative ones answer 403 "this needs an instructor's token";
    no other one does (it may still refuse the empty request for another reason)."""
    server, tokens = course
    routes = _api_routes(str(tmp_path))
    assert set(routes) >= TA_REFUSED_API
    refused, allowed = [], []
    with server.client(tokens["tess"]) as ta:
        for method, path in routes:
            url = path.format(**{k: v for k, v in PATH_VALUES.items() if "{" + k + "}" in path})
            if method == "DELETE" and path == "/api/v1/users/{name}":
                url = "/api/v1/users/nobody"  # never delete a user of the fixture, even if the check broke
            response = ta.request(method, url, json={})
            denied = response.status_code == 403 and response.json() == {"detail": "this needs an instructor's token"}
            (refused if denied else allowed).append((method, path))
    assert set(refused) == TA_REFUSED_API
    assert ("POST", "/api/v1/submissions/{submission_id}/regrade") in allowed


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/dashboard", 200), ("GET", "/dashboard/gradebook", 200), ("GET", "/dashboard/labs/frameworks", 200),
    ("GET", "/dashboard/submissions", 200), ("GET", "/dashboard/submissions/3", 200),
    ("GET", "/dashboard/labs/frameworks/export", 200), ("GET", "/dashboard/gradebook/export.csv", 200),
    ("GET", "/dashboard/students/ada", 200), ("GET", "/dashboard/students/nobody", 404),
    ("GET", "/dashboard/roster", 403), ("GET", "/dashboard/labs/frameworks/regrade", 403),
    ("POST", "/dashboard/labs/frameworks/rescore", 403), ("POST", "/dashboard/labs/frameworks/regrade", 403),
    ("POST", "/dashboard/submissions/3/extension", 403), ("POST", "/dashboard/submissions/3/excuse", 403),
    ("POST", "/dashboard/roster/users", 403),
])
def test_a_ta_sees_the_course_pages_but_not_the_roster_or_lab_administration(course, method: str, path: str,  # type: ignore[no-untyped-def]
                                                                            status: int) -> None:
    server, tokens = course
    with logged_in(server, tokens["tess"]) as (client, csrf):
        response = client.request(method, path, data={"csrf_token": csrf, "comment": "x"} if method == "POST" else None)
        page = client.get("/dashboard/labs/frameworks").text
    assert response.status_code == status, response.text[-500:]
    assert "/dashboard/roster" not in page and 'action="/dashboard/labs/frameworks/rescore"' not in page


def test_the_lab_page_names_the_file_the_server_loaded_and_students_see_the_lab_itself(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The instructor's lab page names the lab.toml of LABGRADER_LABS_DIR; the student's page offers that folder's
    starter, lists the checks with points and thresholds, and says how many uploads are left this hour."""
    import shutil
    from datetime import UTC

    from lab_tasks import LABS_DIR

    labs = tmp_path / "course-labs"
    shutil.copytree(LABS_DIR / "frameworks", labs / "frameworks")
    shutil.copy(LABS_DIR / "datasets.toml", labs)  # the course's MNIST declaration
    server = make_server(tmp_path, LABGRADER_LABS_DIR=str(labs), LABGRADER_SUBMISSIONS_PER_HOUR="5")
    token, student = server.add_user("prof", "instructor"), server.add_user("ada")
    with transaction(migrated_factory(server.workdir / "labgrader.db")) as session:
        now = datetime.now(UTC).replace(tzinfo=None)
        graded_submission(session, "ada", now, FULL)
        graded_submission(session, "ada", now, FULL)
    server.start()
    try:
        with logged_in(server, token) as (client, _csrf):
            html = client.get("/dashboard/labs/frameworks").text
        with logged_in(server, student) as (client, _csrf):
            me = client.get("/me").text
            starter = client.get("/me/labs/frameworks/starter.ipynb")
            unknown = client.get("/me/labs/nope/starter.ipynb")
    finally:
        server.stop()
    assert f'<code data-field="lab-file">{labs.resolve()}/frameworks/lab.toml</code>, the file this server loaded' \
        in html
    assert ('<p class="muted" id="uploads-left">You can upload 3 more notebook(s) in the coming hour (the limit is 5 '
            'per hour, all labs together).</p>') in me
    assert ('<li data-check="iris_accuracy"><strong>Iris network accuracy on held-out samples</strong> '
            '<code>iris_accuracy</code>: 20 points (full credit at 0.93, no credit at 0.7)</li>') in me
    assert (starter.status_code, starter.content) == (200, (labs / "frameworks" / "starter.ipynb").read_bytes())
    assert starter.headers["content-disposition"] == 'attachment; filename="frameworks-starter.ipynb"'
    assert unknown.status_code == 404
