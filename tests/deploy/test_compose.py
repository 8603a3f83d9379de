"""docker-compose.yml, validated and rendered by a real compose client (`docker-compose config`, no daemon)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import REPO, SECRETS, Compose

DATABASE_URL = "postgresql://labgrader:pgsecret0123@postgres:5432/labgrader"
BROKER_URL = "amqp://labgrader:mqsecret4567@rabbitmq:5672/labgrader"


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source for a service's volumes, from either the short (v1) or the long (v2) syntax."""
    found: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        found[target] = source
    return found


def started_after(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service["depends_on"].items()}


@pytest.fixture(scope="module")
def config(compose: Compose) -> dict[str, Any]:
    return compose.config()


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in config["services"].items() if not spec.get("profiles")}


def test_the_default_services_are_the_database_broker_api_and_gpu_worker(services: dict[str, Any]) -> None:
    assert sorted(services) == ["api", "postgres", "rabbitmq", "worker"]


def test_the_worker_reserves_the_hosts_nvidia_gpus(services: dict[str, Any]) -> None:
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    assert devices[0]["driver"] == "nvidia"
    assert devices[0]["capabilities"] == ["gpu"]
    assert devices[0]["count"] in ("all", -1)  # v1 writes "all", v2 -1


def test_gpu_slots_come_from_the_environment(compose: Compose) -> None:
    worker = compose.config({"LABGRADER_GPUS": "0,1", "LABGRADER_JOBS_PER_GPU": "3"})["services"]["worker"]
    assert worker["command"] == ["worker", "--gpus", "0,1", "--jobs-per-gpu", "3",
                                 "--queues", "live-gpu,live,regrade-gpu,regrade"]


def test_the_gpu_worker_also_grades_cpu_labs_unless_told_otherwise(services: dict[str, Any],
                                                                     compose: Compose) -> None:
    assert services["worker"]["command"] == ["worker", "--gpus", "0", "--jobs-per-gpu", "2",
                                             "--queues", "live-gpu,live,regrade-gpu,regrade"]
    dedicated = compose.config({"LABGRADER_WORKER_QUEUES": "live-gpu,regrade-gpu"})["services"]["worker"]
    assert dedicated["command"][-2:] == ["--queues", "live-gpu,regrade-gpu"]


def test_database_broker_and_api_have_healthchecks(services: dict[str, Any]) -> None:
    assert services["postgres"]["healthcheck"]["test"] == [
        "CMD", "pg_isready", "--username=labgrader", "--dbname=labgrader", "--host=127.0.0.1"]
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD-SHELL", "rabbitmq-diagnostics -q check_running && rabbitmq-diagnostics -q check_port_connectivity"]
    assert services["api"]["healthcheck"]["test"] == [
        "CMD", "python", "-c",
        "import json, sys, urllib.request; sys.exit(json.load(urllib.request.urlopen("
        "'http://127.0.0.1:8000/healthz', timeout=4))['status'] != 'ok')"]


def test_each_service_starts_only_after_what_it_needs_is_healthy(services: dict[str, Any]) -> None:
    assert started_after(services["api"]) == {"postgres": "service_healthy", "rabbitmq": "service_healthy"}
    # the api migrates on start: a worker must not claim jobs from an old schema
    assert started_after(services["worker"]) == {
        "postgres": "service_healthy", "rabbitmq": "service_healthy", "api": "service_healthy"}


def test_the_api_migrates_on_start_and_dispatches_through_celery(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert api["environment"] == {
        "LABGRADER_ENVIRONMENT": "production",
        "LABGRADER_DATABASE_URL": DATABASE_URL,
        "LABGRADER_QUEUE": "celery",
        "LABGRADER_BROKER_URL": BROKER_URL,
        "LABGRADER_SECRET_KEY": SECRETS["LABGRADER_SECRET_KEY"],
        "LABGRADER_DATA_DIR": "/var/lib/labgrader",
        "LABGRADER_METRICS_TOKEN": "",
    }


def test_the_worker_shares_the_ledger_and_broker_and_runs_the_images_environments(services: dict[str, Any]) -> None:
    env = services["worker"]["environment"]
    assert env["LABGRADER_DATABASE_URL"] == DATABASE_URL
    assert env["LABGRADER_BROKER_URL"] == BROKER_URL
    assert env["LABGRADER_QUEUE"] == "celery"
    assert "LABGRADER_KERNEL_PYTHON" not in env  # the image's LABGRADER_KERNELS_DIR holds `kernels build`'s venvs


def test_a_worker_on_another_host_points_at_the_main_hosts_database_and_broker(compose: Compose) -> None:
    worker = compose.config({"LABGRADER_DB_HOST": "10.1.2.3", "LABGRADER_BROKER_HOST": "10.1.2.4"})
    env = worker["services"]["worker"]["environment"]
    assert env["LABGRADER_DATABASE_URL"] == "postgresql://labgrader:pgsecret0123@10.1.2.3:5432/labgrader"
    assert env["LABGRADER_BROKER_URL"] == "amqp://labgrader:mqsecret4567@10.1.2.4:5672/labgrader"


def test_state_lives_in_named_volumes(config: dict[str, Any], services: dict[str, Any]) -> None:
    assert sorted(config["volumes"]) == ["api-data", "postgres-data", "rabbitmq-data", "worker-data"]
    assert mounts(services["postgres"]) == {"/var/lib/postgresql/data": "postgres-data"}
    assert mounts(services["api"]) == {"/var/lib/labgrader": "api-data"}
    assert mounts(services["worker"]) == {"/var/lib/labgrader": "worker-data"}
    assert mounts(services["rabbitmq"]) == {
        "/var/lib/rabbitmq": "rabbitmq-data",
        "/etc/rabbitmq/conf.d/90-labgrader.conf": str(REPO / "docker" / "rabbitmq.conf"),
    }


def test_rabbitmq_lets_a_long_job_hold_its_unacknowledged_message() -> None:
    settings = [line for line in (REPO / "docker" / "rabbitmq.conf").read_text().splitlines()
                if line and not line.startswith("#")]
    assert settings == ["consumer_timeout = 10800000"]


def test_the_worker_is_not_privileged_and_holds_only_the_sandboxs_capabilities(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert not worker.get("privileged", False)
    assert worker["cap_drop"] == ["ALL"]
    assert sorted(worker["cap_add"]) == sorted(
        ["SYS_ADMIN", "NET_ADMIN", "SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "KILL", "SYS_CHROOT"])
    assert worker["security_opt"] == ["seccomp=unconfined", "apparmor=unconfined"]
    assert worker["init"] is True


def test_the_database_and_broker_listen_on_localhost_unless_told_otherwise(
        services: dict[str, Any], compose: Compose) -> None:
    def published(service: dict[str, Any]) -> list[str]:
        return [p if isinstance(p, str) else f"{p['host_ip']}:{p['published']}:{p['target']}/{p['protocol']}"
                for p in service["ports"]]

    assert published(services["postgres"]) == ["127.0.0.1:5432:5432/tcp"]
    opened = compose.config({"LABGRADER_PUBLISH_ADDR": "10.1.2.3"})["services"]
    assert published(opened["postgres"]) == ["10.1.2.3:5432:5432/tcp"]
    assert published(opened["rabbitmq"]) == ["10.1.2.3:5672:5672/tcp", "127.0.0.1:15672:15672/tcp"]


def test_the_cpu_worker_is_behind_a_profile_and_reserves_no_gpu(compose: Compose) -> None:
    worker = compose.config({"LABGRADER_CPU_JOBS": "4"}, "--profile", "cpu")["services"]["worker-cpu"]
    assert worker["profiles"] == ["cpu"]
    assert "deploy" not in worker
    assert worker["command"] == ["worker", "--jobs", "4", "--queues", "live,regrade"]
    assert worker["environment"]["LABGRADER_SANDBOX_UID_BASE"] == "62000"


@pytest.mark.parametrize(("variable", "message"), [
    ("POSTGRES_PASSWORD", "POSTGRES_PASSWORD is required: the PostgreSQL password, URL-safe (openssl rand -hex 24)"),
    ("RABBITMQ_PASSWORD", "RABBITMQ_PASSWORD is required: the RabbitMQ password, URL-safe (openssl rand -hex 24)"),
    ("LABGRADER_SECRET_KEY", "LABGRADER_SECRET_KEY is required: a long random value (openssl rand -hex 32)"),
])
def test_a_missing_secret_stops_compose_and_names_it(compose: Compose, variable: str, message: str) -> None:
    env = {name: value for name, value in SECRETS.items() if name != variable}
    proc = compose.run(env, "config")
    assert proc.returncode != 0
    assert proc.stderr.rstrip().endswith(message), proc.stderr


@pytest.mark.parametrize("service", ["api", "worker", "worker-cpu"])
def test_each_command_is_one_the_labgrader_cli_accepts(compose: Compose, service: str) -> None:
    from server.cli.main import build_parser
    from server.jobs.celery_worker import check_queues, plan_slots

    command = compose.config({}, "--profile", "cpu")["services"][service]["command"]
    args = build_parser().parse_args(command)
    assert args.command == command[0]
    if args.command == "worker":
        gpus = args.gpus.split(",") if args.gpus else []
        slots = plan_slots(args.jobs or 1, gpus, args.jobs_per_gpu)
        assert check_queues(args.queues.split(","), slots) == tuple(args.queues.split(","))
