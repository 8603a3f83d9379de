"""The compose deployment, run: images built, `docker compose up` of PostgreSQL, RabbitMQ, the api and two workers on
this host (docker-compose.yml + docker/compose.local.yml: host network, loopback only), then what an operator relies
on: a reference solution graded 100 inside a worker container's sandbox, a hostile notebook contained there, a killed
worker's job redelivered and graded once, an api restart during uploads, `down` + `up` keeping every submission, and
the backup, restore and upgrade steps of docs/operator.md executed as written.

Marked `compose` (deselect with `-m "not compose"`): the first run builds the 7 GB worker image (see docs/operator.md,
"The compose run, measured"). The tests share one deployment and run in file order; deploy/compose-e2e.sh brings it
up and the module tears it down with its volumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.deploy.conftest import REPO

pytestmark = pytest.mark.compose

SCRIPT = REPO / "deploy" / "compose-e2e.sh"
SOLUTION = REPO / "lab_tasks" / "frameworks" / "solutions" / "solution_keras.ipynb"
GRADE_TIMEOUT_S = 1200  # the Keras reference trains on full MNIST: about a minute on a quiet core, more under load
UP_TIMEOUT_S = 5400  # a cold build of the worker image (the 7 GB student environment) included
ENV = {
    # a project, ports and state of its own, so it runs beside a developer's deployment and the host's services
    "COMPOSE_PROJECT_NAME": "labgrader-e2e-test",
    "LABGRADER_LOCAL_PG_PORT": "15442",
    "LABGRADER_LOCAL_AMQP_PORT": "15683",
    "LABGRADER_LOCAL_DIST_PORT": "25683",
    "LABGRADER_LOCAL_EPMD_PORT": "14379",
    "LABGRADER_LOCAL_API_PORT": "18010",
    "LABGRADER_MEMORY_LIMIT_MB": "3072",  # the hostile notebook's allocation meets it without starving this host
    "LABGRADER_SUBMISSIONS_PER_HOUR": "1000",
    # sandbox uids are host-wide: clear of the suite's own (61000, 62000 for the hostile suite, 64000), which other
    # xdist workers use while this runs
    "LABGRADER_LOCAL_UID_BASE": "66000",
    "LABGRADER_LOCAL_UID_BASE_2": "67000",
}


@dataclass
class Deployment:
    url: str
    state: Path
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 900, check: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(SCRIPT), "compose", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input)
        if check:
            assert proc.returncode == 0, f"compose {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc

    def psql(self, sql: str) -> str:
        return self.compose("exec", "-T", "postgres", "psql", "-U", "labgrader", "-d", "labgrader", "-tAc",
                            sql).stdout.strip()

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=30)

    def upload(self, user: str, notebook: bytes, name: str = "lab.ipynb") -> dict[str, Any]:
        with self.client(user) as http:
            response = http.post("/api/v1/labs/frameworks/submissions",
                                 files={"notebook": (name, notebook, "application/x-ipynb+json")})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def submission(self, user: str, submission_id: int) -> dict[str, Any]:
        with self.client(user) as http:
            response = http.get(f"/api/v1/submissions/{submission_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_finished(self, user: str, submission_id: int, timeout_s: float = GRADE_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.submission(user, submission_id)
            if body["status"] in ("graded", "error"):
                return body
            time.sleep(3)
        raise AssertionError(f"submission {submission_id} not finished after {timeout_s} s: {body}")


def notebook(*sources: str) -> bytes:
    text: str = nbformat.writes(new_notebook(cells=[new_code_cell(s) for s in sources]))
    return text.encode()


def outputs(deployment: Deployment, user: str, submission_id: int) -> list[str]:
    """The text each code cell of the executed notebook printed, in order."""
    with deployment.client(user) as http:
        response = http.get(f"/api/v1/submissions/{submission_id}/notebook")
    assert response.status_code == 200, response.text
    executed = nbformat.reads(response.text, as_version=4)
    return ["".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            for cell in executed.cells if cell.cell_type == "code"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if os.geteuid() != 0:
        pytest.fail("the compose run needs root (dockerd, the sandbox's capabilities): run .ci/prepare as root")
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.fail("docker and docker-compose are missing: .ci/prepare installs them (docker.io, docker-compose)")
    state = tmp_path_factory.mktemp("compose-e2e")
    env = {**os.environ, **ENV, "LABGRADER_E2E_DIR": str(state)}
    deployment = Deployment("", state, env)
    deployment.compose("down", "-v", "--remove-orphans", timeout=300, check=False)  # a crashed earlier run's
    try:
        up = subprocess.run([str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=UP_TIMEOUT_S)
        (REPO / "test-artifacts").mkdir(exist_ok=True)
        (REPO / "test-artifacts" / "compose-e2e-up.log").write_text(up.stderr)  # the build's and up's timings
        assert up.returncode == 0, up.stderr[-5000:]
        deployment.url = up.stdout.strip().splitlines()[-1]
        for name, role in (("inst", "instructor"), ("alice", "student"), ("bob", "student")):
            added = deployment.compose("exec", "-T", "api", "labgrader", "users", "add", name, "--role", role,
                                       "--json")
            created = json.loads(added.stdout)
            assert (created["name"], created["role"]) == (name, role)
            deployment.tokens[name] = created["token"]
        yield deployment
    finally:
        logs = deployment.compose("logs", "--no-color", "--tail", "200", timeout=120, check=False).stdout
        (REPO / "test-artifacts").mkdir(exist_ok=True)
        (REPO / "test-artifacts" / "compose-e2e.log").write_text(logs)
        deployment.compose("down", "-v", "--remove-orphans", timeout=600, check=False)


def test_the_workers_student_environment_is_the_one_kernels_build_makes_here(deployment: Deployment) -> None:
    """/healthz of the worker image's embedded server and of this checkout's: the same file, the same versions."""
    marker = json.loads(deployment.compose("exec", "-T", "worker-cpu", "cat",
                                           "/opt/labgrader-kernels/default/labgrader-environment.json").stdout)
    here = REPO / "lab_tasks" / "environments" / "default.txt"
    assert marker["requirements_sha256"] == hashlib.sha256(here.read_bytes()).hexdigest()
    # in the worker container itself (compose 1.29's `run` cannot start a host-network container: it adds links)
    container = embedded_healthz(deployment, ["compose", "exec", "-T", "-e", "LABGRADER_QUEUE=embedded",
                                              "-e", "LABGRADER_DATABASE_URL=sqlite:////tmp/healthz.db",
                                              "worker-cpu", "labgrader", "serve", "--host", "127.0.0.1",
                                              "--port", "18091"], 18091)
    kernels_dir = os.environ.get("LABGRADER_KERNELS_DIR", str(REPO / "labgrader-data" / "kernels"))
    host = embedded_healthz(deployment, [str(REPO / ".venv" / "bin" / "labgrader"), "serve", "--host", "127.0.0.1",
                                         "--port", "18092"], 18092,
                            {"LABGRADER_KERNELS_DIR": kernels_dir, "LABGRADER_QUEUE": "embedded",
                             "LABGRADER_DATABASE_URL": f"sqlite:///{deployment.state}/host-healthz.db",
                             "LABGRADER_DATA_DIR": str(deployment.state / "host-data")})
    assert container["environments"]["default"]["status"] == "ok", container
    assert host["environments"]["default"]["status"] == "ok", host
    assert container["environments"]["default"]["source"] == host["environments"]["default"]["source"] == "built"
    in_container = dict(container["environments"]["default"]["versions"])
    on_host = dict(host["environments"]["default"]["versions"])
    # the interpreter is the base image's (3.11.2 from Debian here, 3.11.14 in python:3.11.14-slim-bookworm, this
    # host's own elsewhere): the same minor version, every library the same
    assert in_container.pop("python").split(".")[:2] == on_host.pop("python").split(".")[:2] == ["3", "11"]
    assert in_container == on_host
    assert container["environments"]["default"]["python"] == "/opt/labgrader-kernels/default/bin/python"


def embedded_healthz(deployment: Deployment, argv: list[str], port: int,
                     extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    if argv[0] == "compose":
        argv = [str(SCRIPT), *argv]
    server = subprocess.Popen(argv, env={**deployment.env, **(extra_env or {})}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                body: dict[str, Any] = response.json()
                return body
            except httpx.TransportError:
                time.sleep(2)
        raise AssertionError(f"no /healthz on 127.0.0.1:{port} after 300 s")
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def test_the_reference_solution_is_graded_100_in_a_worker_containers_sandbox(deployment: Deployment) -> None:
    submitted = deployment.upload("alice", SOLUTION.read_bytes(), "solution_keras.ipynb")
    report = deployment.wait_finished("alice", submitted["id"])
    assert (report["status"], report["score"], report["max_score"]) == ("graded", 100, 100), report
    assert [c["id"] for c in report["checks"] if not c["passed"]] == []
    owner = deployment.psql(f"SELECT count(*) FROM grading_jobs WHERE submission_id = {submitted['id']} "
                            "AND status = 'graded'")
    assert owner == "1"


HOSTILE = [
    # the database and the broker listen on the host's loopback, which the containers share: the sandbox must not
    "import socket\n"
    "for port in ({pg}, {amqp}, {api}):\n"
    "    try:\n"
    "        socket.create_connection(('127.0.0.1', port), timeout=3)\n"
    "        print('reached', port)\n"
    "    except OSError as exc:\n"
    "        print('refused', port, type(exc).__name__)\n",
    "import os\nprint(sorted(k for k in os.environ if any(w in k for w in ('DATABASE', 'BROKER', 'SECRET', 'PASSWORD',"
    " 'TOKEN'))))",
    "import os\nprint([os.path.exists(p) for p in ('/opt/labgrader/venv', '/var/lib/labgrader', '/proc/1/environ')])",
    # past LABGRADER_MEMORY_LIMIT_MB (3072 here): the job's memory cgroup in the container must stop it
    "chunks = []\nfor i in range(24):\n    chunks.append(bytearray(256 * 1024 * 1024))\n"
    "    chunks[-1][::4096] = b'x' * len(chunks[-1][::4096])\n    print('allocated', (i + 1) * 256, 'MB', flush=True)",
    "print('survived')",
]


def test_a_hostile_notebook_is_contained_in_the_worker_container(deployment: Deployment) -> None:
    env = deployment.env
    cells = [c.format(pg=env["LABGRADER_LOCAL_PG_PORT"], amqp=env["LABGRADER_LOCAL_AMQP_PORT"],
                      api=env["LABGRADER_LOCAL_API_PORT"]) for c in HOSTILE]
    submitted = deployment.upload("bob", notebook(*cells), "hostile.ipynb")
    report = deployment.wait_finished("bob", submitted["id"])
    assert (report["status"], report["score"]) == ("graded", 0), report
    printed = outputs(deployment, "bob", submitted["id"])
    ports = (env["LABGRADER_LOCAL_PG_PORT"], env["LABGRADER_LOCAL_AMQP_PORT"], env["LABGRADER_LOCAL_API_PORT"])
    assert printed[0] == "".join(f"refused {p} ConnectionRefusedError\n" for p in ports), printed
    assert printed[1] == "[]\n", printed
    assert printed[2] == "[False, False, True]\n", printed
    allocated = re.findall(r"allocated (\d+) MB", printed[3])
    assert allocated and int(allocated[-1]) < 3072, printed[3]
    assert printed[4] == "", printed  # the kernel was killed at the limit: nothing after it ran
    messages = " ".join(c["message"] for c in report["checks"])
    assert "memory" in messages, report["checks"]


def running_kernel_container(deployment: Deployment) -> str | None:
    for service in ("worker-cpu", "worker-cpu-2"):
        container = deployment.container(service)
        top = subprocess.run(["docker", "top", container, "-eo", "pid,args"], capture_output=True, text=True,
                             timeout=60)
        if "ipykernel" in top.stdout:
            return service
    return None


def test_a_killed_workers_job_is_redelivered_and_graded_once(deployment: Deployment) -> None:
    slow = notebook("import time\nfor _ in range(60):\n    time.sleep(1)", "print('finished')")
    submitted = deployment.upload("alice", slow, "slow.ipynb")
    deadline = time.monotonic() + 600
    service = None
    while service is None and time.monotonic() < deadline:
        service = running_kernel_container(deployment)
        time.sleep(1)
    assert service is not None, "no worker container started the job's kernel within 600 s"
    subprocess.run(["docker", "kill", deployment.container(service)], check=True, capture_output=True, timeout=60)
    report = deployment.wait_finished("alice", submitted["id"])
    assert report["status"] == "graded", report
    assert outputs(deployment, "alice", submitted["id"]) == ["", "finished\n"]
    jobs = deployment.psql(f"SELECT status || ':' || attempt FROM grading_jobs WHERE submission_id = {submitted['id']}")
    assert jobs == "graded:2", jobs  # one job, claimed twice (the killed attempt, then the redelivery), graded once
    results = deployment.psql(f"SELECT count(DISTINCT job_id) FROM check_results WHERE submission_id = "
                              f"{submitted['id']}")
    assert results == "1"
    # `docker kill` counts as a manual stop: the restart policy leaves the container down, the operator starts it
    deployment.compose("up", "-d", "--no-build", service, timeout=600)


def test_an_api_restart_during_uploads_loses_no_accepted_upload(deployment: Deployment) -> None:
    quick = notebook("print('hello')")
    accepted: list[int] = []
    refused: list[str] = []
    stop = threading.Event()

    def upload_until_stopped() -> None:
        with deployment.client("bob") as http:
            while not stop.is_set() and len(accepted) + len(refused) < 300:
                try:
                    response = http.post("/api/v1/labs/frameworks/submissions",
                                         files={"notebook": ("quick.ipynb", quick, "application/x-ipynb+json")})
                except httpx.TransportError as exc:
                    refused.append(type(exc).__name__)  # the api is down: the client sees it and may retry
                    time.sleep(0.2)
                    continue
                assert response.status_code == 202, response.text  # never a 500 or a half-stored upload
                accepted.append(response.json()["id"])
                time.sleep(1)  # each accepted upload is a job the two workers grade afterwards

    uploader = threading.Thread(target=upload_until_stopped)
    uploader.start()
    try:
        time.sleep(3)
        before_restart = len(accepted)
        deployment.compose("restart", "api", timeout=300)
        wait_healthy(deployment)
        deadline = time.monotonic() + 300
        while len(accepted) < before_restart + 3:  # uploads go on being accepted after it
            assert time.monotonic() < deadline, (accepted, refused)
            time.sleep(1)
    finally:
        stop.set()
        uploader.join(timeout=120)
    assert refused, "the uploads never saw the api down: the restart did not happen during them"
    for submission_id in accepted:
        assert deployment.wait_finished("bob", submission_id)["status"] == "graded"
    stored = deployment.psql("SELECT count(*) FROM submissions WHERE id IN (" + ",".join(map(str, accepted)) + ")")
    assert stored == str(len(accepted))


def submission_ids(deployment: Deployment) -> list[int]:
    with deployment.client("inst") as http:
        response = http.get("/api/v1/submissions", params={"lab_id": "frameworks"})
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return sorted(int(item["id"]) for item in items)


def wait_healthy(deployment: Deployment, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{deployment.url}/healthz", timeout=5).json()["status"] == "ok":
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(2)
    raise AssertionError(f"the api at {deployment.url} is not healthy after {timeout_s} s")


def test_down_and_up_keep_every_submission(deployment: Deployment) -> None:
    before = submission_ids(deployment)
    assert len(before) >= 4
    deployment.compose("down", timeout=600)
    assert deployment.compose("ps", "-q").stdout.strip() == ""
    deployment.compose("up", "-d", "--no-build", "postgres", "rabbitmq", "api", "worker-cpu", "worker-cpu-2",
                       timeout=900)
    wait_healthy(deployment)
    assert submission_ids(deployment) == before
    assert deployment.submission("alice", before[0])["status"] == "graded"


def documented_block(section: str, index: int = 0) -> str:
    """The `index`-th ```sh block of a section of docs/operator.md."""
    text = (REPO / "docs" / "operator.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", body, flags=re.S)
    return str(blocks[index])


def run_documented(deployment: Deployment, script: str, backup_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the operator's commands as written: `docker compose` is this run's compose (same files, project,
    secrets), /backup is a temporary folder. Before each `docker compose run` and `pg_restore`, the services with a
    running container are written to backup_dir/running.log (see running_during)."""
    project = deployment.env["COMPOSE_PROJECT_NAME"]
    prelude = (f'docker() {{ if [ "$1" = compose ]; then shift\n'
               f'  case " $* " in " run "*|*" pg_restore "*) echo "$1: $(command docker ps '
               f'--filter label=com.docker.compose.project={project} '
               "--format '{{.Label \"com.docker.compose.service\"}}' | sort | tr '\\n' ' ')\" "
               f'>> "{backup_dir}/running.log";; esac\n'
               f'  "{SCRIPT}" compose "$@"; else command docker "$@"; fi; }}\nset -euo pipefail\n')
    proc = subprocess.run(["bash", "-c", prelude + script.replace("/backup/", f"{backup_dir}/")],
                          env=deployment.env, capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert proc.returncode == 0, f"{script}\n{proc.stderr[-3000:]}"
    return proc


def running_during(backup_dir: Path) -> list[str]:
    """Per `docker compose run` or `pg_restore` of the documented blocks: the compose command and the services
    whose containers were running when it started."""
    return [line.strip() for line in (backup_dir / "running.log").read_text().splitlines()]


def test_backup_restore_and_upgrade_as_the_operators_guide_writes_them(deployment: Deployment,
                                                                      tmp_path: Path) -> None:
    kept = submission_ids(deployment)
    cron = documented_block("Backups", 0).strip()
    daily = cron.split(" && ", 1)[1].replace("\\%", "%")  # the crontab line's command, run now
    run_documented(deployment, daily, tmp_path)
    dumps = sorted(tmp_path.glob("labgrader-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 10_000

    after_backup = deployment.upload("alice", notebook("print('after the backup')"), "late.ipynb")["id"]
    deployment.wait_finished("alice", after_backup)
    restore = documented_block("Backups", 1).replace("labgrader-2026-11-26.dump", dumps[0].name)
    run_documented(deployment, restore, tmp_path)
    # nothing that writes to the database ran during pg_restore: not the api, not any of the workers
    assert running_during(tmp_path) == ["exec: postgres rabbitmq"]
    wait_healthy(deployment)
    assert submission_ids(deployment) == kept  # the restore brought back the backup's state exactly

    upgrade = documented_block("Upgrades", 0).replace("git pull", ": git pull  # not run: the test runs this checkout")
    run_documented(deployment, upgrade, tmp_path)
    # nothing of the previous version ran while `db upgrade` migrated the schema
    assert running_during(tmp_path)[1:] == ["run: postgres rabbitmq"]
    assert (tmp_path / "before-upgrade.dump").stat().st_size > 10_000
    wait_healthy(deployment)
    images = {subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", deployment.container(service)],
                             capture_output=True, text=True, timeout=60).stdout.strip()
              for service in ("api", "worker-cpu", "worker-cpu-2")}
    assert images == {"labgrader/api:0.2.0", "labgrader/worker:0.2.0"}, images
    assert submission_ids(deployment) == kept
    regraded = deployment.upload("bob", notebook("print('after the upgrade')"), "upgraded.ipynb")["id"]
    assert deployment.wait_finished("bob", regraded)["status"] == "graded"
