"""The `labgrader` command line as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import IRIS_CODE, LABGRADER, LiveServer, make_server, notebook_bytes


def test_users_add_json_prints_a_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    issued = json.loads(server.cli("users", "add", "carol", "--role", "instructor", "--json").stdout)
    assert set(issued) == {"name", "role", "token"}
    assert (issued["name"], issued["role"]) == ("carol", "instructor")
    assert issued["token"].startswith("lg_") and len(issued["token"]) > 40
    database = (server.workdir / "labgrader.db").read_bytes()
    assert issued["token"].encode() not in database
    duplicate = server.cli("users", "add", "carol", "--role", "student", check=False)
    assert duplicate.returncode == 2
    assert duplicate.stderr == "error: a user named 'carol' already exists\n"


def test_roster_import_creates_users_and_prints_tokens(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("name,role\ndan,student\nerin,instructor\n")
    out = server.cli("roster", "import", str(roster))
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "name,full_name,email,student_id,role,token"
    assert [line.split(",")[:5] for line in lines[1:]] == [["dan", "", "", "", "student"],
                                                            ["erin", "", "", "", "instructor"]]
    assert out.stderr == "2 added, 0 updated, 0 unchanged (Labgrader roster); the new users' tokens are shown only " \
                         "this once\n"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,role\nfrank,teacher\n")
    refused = server.cli("roster", "import", str(bad), check=False)
    assert refused.returncode == 2
    assert refused.stderr == "error: roster line 2: role must be 'student', 'ta' or 'instructor', not 'teacher'\n"


def test_grade_json_reports_in_the_api_shape(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    notebook = tmp_path / "iris.ipynb"
    notebook.write_bytes(notebook_bytes(IRIS_CODE))
    out = server.cli("grade", str(notebook), "--lab", "frameworks", "--json")
    report = json.loads(out.stdout)
    assert report["status"] == "graded"
    iris = next(c for c in report["checks"] if c["id"] == "iris_accuracy")
    assert set(iris) == {"id", "title", "passed", "score", "max_score", "message"}
    assert iris["passed"] is True
    assert report["score"] == sum(c["score"] for c in report["checks"])


def test_grade_refuses_a_file_that_is_not_a_notebook(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    broken = tmp_path / "broken.ipynb"
    broken.write_bytes(b"\xff\xfe not utf-8")
    out = server.cli("grade", str(broken), "--lab", "frameworks", check=False)
    assert out.returncode == 2
    assert out.stderr == ("error: broken.ipynb: the upload is not UTF-8 text: byte 0xff at offset 0 "
                          "cannot be decoded\n")


def test_submit_shows_progress_and_prints_the_report(live_server: LiveServer, tmp_path: Path) -> None:
    token = live_server.add_user("gina")
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(notebook_bytes("raise RuntimeError('no model yet')"))
    out = subprocess.run([*LABGRADER, "submit", str(notebook), "--lab", "frameworks", "--server", live_server.url,
                          "--token", token], capture_output=True, text=True, timeout=300, env=live_server.env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("Submitted lab.ipynb as submission 1: queued\n")
    assert "graded" in out.stderr
    assert out.stdout.startswith("Submission 1 (frameworks): graded\n")
    assert "cell 1 raised RuntimeError: no model yet" in out.stdout
    assert out.stdout.rstrip().endswith("Score: 0 / 100")


def test_submit_says_why_the_server_refused(live_server: LiveServer, tmp_path: Path) -> None:
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(notebook_bytes("print(1)"))
    out = subprocess.run([*LABGRADER, "submit", str(notebook), "--lab", "frameworks", "--server", live_server.url,
                          "--token", "lg_wrong"], capture_output=True, text=True, timeout=60, env=live_server.env)
    assert out.returncode == 2
    assert out.stderr == "error: the server refused the upload (401): the token is not valid\n"


def test_datasets_import_then_status(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    subset = Path(__file__).resolve().parents[2] / "lab_tasks" / "frameworks" / "testdata" / "mnist-small.npz"
    assert "frameworks/mnist: missing" in server.cli("datasets", "status").stdout
    imported = server.cli("datasets", "import", str(subset), "--as", "mnist.npz")
    assert imported.stdout.startswith(f"imported {subset} as a copy of MNIST whose bytes differ from the declared "
                                      "sha256 (6000 training rows), sha256 ")
    status = server.cli("datasets", "status").stdout
    assert "frameworks/mnist: labs/frameworks/hidden/mnist.npz sha256 " in status
    assert "frameworks/iris: labs/frameworks/hidden/iris.npz sha256 " in status
    refused = server.cli("datasets", "import", str(tmp_path / "missing.npz"), check=False)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {tmp_path / 'missing.npz'} is not a NumPy .npz archive: ")


def test_submit_no_wait_prints_the_command_that_follows_it_like_the_page(live_server: LiveServer,
                                                                        tmp_path: Path) -> None:
    token = live_server.add_user("hana")
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(notebook_bytes("raise RuntimeError('no model yet')"))
    env = {**live_server.env, "LABGRADER_TOKEN": token}
    sent = subprocess.run([*LABGRADER, "submit", str(notebook), "--lab", "frameworks", "--server", live_server.url,
                           "--no-wait"], capture_output=True, text=True, timeout=60, env=env)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == f"Follow it with: labgrader wait 1 --server {live_server.url}\n"
    followed = subprocess.run([*LABGRADER, "wait", "1", "--server", live_server.url], capture_output=True, text=True,
                              timeout=300, env=env)
    assert followed.returncode == 0, followed.stderr
    lines = followed.stderr.splitlines()
    assert lines, "nothing was shown while waiting"
    assert all(re.fullmatch(r"\s+\d+ s  (queued: position \d+ in the live queue.*|running.*|graded)", line)
               for line in lines), lines
    assert followed.stdout.startswith("Submission 1 (frameworks): graded\n")


def test_the_waiting_lines_say_position_estimate_and_time_running() -> None:
    from server.cli.client import progress_line

    assert progress_line(3, "queued", {"status": "queued", "queue": "live", "position": 3, "elapsed_s": 3,
                                       "estimate_s": 200}) == \
        "      3 s  queued: position 3 in the live queue, about 3 min to the result"
    assert progress_line(40, "running", {"status": "running", "queue": "live", "position": None, "elapsed_s": 30,
                                         "estimate_s": 45}) == "     40 s  running: running for 30 s, about 45 s left"
    assert progress_line(50, "running", {"status": "running", "queue": "live", "position": None, "elapsed_s": 40,
                                         "estimate_s": None}) == "     50 s  running: running for 40 s"
    assert progress_line(60, "graded", None) == "     60 s  graded"


def test_serve_refuses_a_missing_weak_or_unprotected_secret_key_in_one_line(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    env = {k: v for k, v in server.env.items() if k != "LABGRADER_SECRET_KEY"}
    cases = [
        ({"LABGRADER_ENVIRONMENT": "production"},
         "error: LABGRADER_SECRET_KEY must be set to a random value in production (at least 32 characters)\n"),
        ({"LABGRADER_SECRET_KEY": "insecure-development-key"},
         "error: LABGRADER_SECRET_KEY is the public default of older releases: set a random value (python -c "
         "'import secrets; print(secrets.token_urlsafe(32))')\n"),
    ]
    for extra, message in cases:
        refused = subprocess.run([*LABGRADER, "serve", "--port", "1"], cwd=server.workdir, env={**env, **extra},
                                 capture_output=True, text=True, timeout=120)
        assert (refused.returncode, refused.stderr) == (2, message)
    key = server.workdir / "data" / "secret_key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("k" * 43 + "\n")
    key.chmod(0o644)
    refused = subprocess.run([*LABGRADER, "serve", "--port", "1"], cwd=server.workdir, env=env, capture_output=True,
                             text=True, timeout=120)
    assert (refused.returncode, refused.stderr.splitlines()[-1]) == (
        2, f"error: {key.resolve()} is readable by others (mode 644): run `chmod 600 {key.resolve()}` and start again")


def test_serve_names_a_lab_that_does_not_validate_in_one_line(tmp_path: Path) -> None:
    """A course's labs folder whose lab takes a shared dataset the course never declared: `serve` says which file and
    why, in one line, instead of a traceback."""
    labs = tmp_path / "labs"
    (labs / "iris").mkdir(parents=True)
    (labs / "iris" / "lab.toml").write_text('id = "iris"\ntitle = "Iris"\n\n[[datasets]]\nshared = "iris"\n')
    server = make_server(tmp_path, LABGRADER_LABS_DIR=str(labs))
    refused = subprocess.run([*LABGRADER, "serve", "--port", "1"], cwd=server.workdir, env=server.env,
                             capture_output=True, text=True, timeout=120)
    lines = refused.stderr.splitlines()
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert lines[-1] == (f"error: {labs / 'iris' / 'lab.toml'}: datasets: {labs / 'datasets.toml'} does not exist: "
                         "write the shared [[datasets]] tables there, or declare the dataset in the lab.toml itself "
                         "(`labgrader labs validate PATH` lists every problem of a lab)")
