"""Every bundled lab through a live `labgrader serve`: listed by the API and `labs list`, offered in the students' lab
picker, graded (each starter, in a real sandboxed kernel), and shown on its own dashboard page, in the gradebook and
in every lab's export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from lab_tasks import LABS_DIR
from tests.conftest import LiveServer, make_server
from tests.lab_tasks.bundled import FULL_MNIST
from tests.server.dashboard.pages import logged_in

BUNDLED = ("digits", "frameworks", "mountain_car", "own_framework", "perceptron")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = make_server(tmp_path_factory.mktemp("bundled"), LABGRADER_LABS_DIR=str(LABS_DIR))
    server.cli("datasets", "import", str(FULL_MNIST))
    server.start()
    yield server
    server.stop()


def test_every_bundled_lab_is_listed(site: LiveServer) -> None:
    token = site.add_user("lister")
    with site.client(token) as client:
        labs = client.get("/api/v1/labs").json()
    assert sorted(lab["id"] for lab in labs) == list(BUNDLED)
    listed = site.cli("labs", "list").stdout
    assert all(f"  {lab}: " in listed for lab in BUNDLED), listed


@pytest.mark.slow
def test_each_lab_is_picked_graded_and_shown_in_its_gradebook(site: LiveServer) -> None:
    prof, ann = site.add_user("prof", "instructor"), site.add_user("ann")
    with logged_in(site, ann) as (client, _):
        picker = client.get("/me").text
    for lab in BUNDLED:
        assert f'<option value="{lab}"' in picker
    submitted = {}
    with site.client(ann) as client:
        for lab in BUNDLED:
            starter = (LABS_DIR / lab / "starter.ipynb").read_bytes()
            response = client.post(f"/api/v1/labs/{lab}/submissions", files={"notebook": ("starter.ipynb", starter)})
            assert response.status_code in (200, 201, 202), response.text
            submitted[lab] = response.json()["id"]
    for lab, submission_id in submitted.items():
        done = site.wait_for(ann, submission_id, timeout_s=600)
        assert (done["status"], done["score"]) == ("graded", 0), (lab, done)
    with logged_in(site, prof) as (client, _):
        assert all(f"/dashboard/labs/{lab}" in client.get("/dashboard").text for lab in BUNDLED)
        gradebook = client.get("/dashboard/gradebook").text
        for lab in BUNDLED:
            page = client.get(f"/dashboard/labs/{lab}")
            assert page.status_code == 200, (lab, page.text[:300])
            title = next(line for line in (LABS_DIR / lab / "lab.toml").read_text().splitlines()
                         if line.startswith("title = "))
            assert title.split('"')[1] in page.text
            export = client.get(f"/dashboard/labs/{lab}/export", params={"format": "csv"})
            assert export.status_code == 200, (lab, export.text[:300])
            rows = list(csv.DictReader(io.StringIO(export.text)))
            assert [row for row in rows if "ann" in row.values()], (lab, export.text[:500])
        assert "ann" in gradebook
    for lab in BUNDLED:
        exported = site.cli("export", "--lab", lab, "--format", "csv").stdout
        assert [row for row in csv.DictReader(io.StringIO(exported)) if "ann" in row.values()], (lab, exported)
