"""docker/compose.local.yml, the local/loopback run (no daemon needed): every container on the host network with
loopback addresses, the Debian-built images for PostgreSQL and RabbitMQ, and the second CPU worker holding exactly
the privileges docker-compose.yml gives a worker."""

from __future__ import annotations

from typing import Any

from tests.deploy.conftest import REPO, Compose

OVERRIDE = str(REPO / "docker" / "compose.local.yml")


def local_config(compose: Compose, env: dict[str, str] | None = None) -> dict[str, Any]:
    return compose.config(env, "-f", OVERRIDE, "--profile", "cpu")


def test_every_service_is_on_the_host_network_and_no_network_is_created(compose: Compose) -> None:
    config = local_config(compose)
    assert {name: spec.get("network_mode") for name, spec in config["services"].items()} == {
        "postgres": "host", "rabbitmq": "host", "api": "host", "worker": None, "worker-cpu": "host",
        "worker-cpu-2": "host"}
    assert config["services"]["worker"]["profiles"] == ["gpu"]  # no nvidia runtime here: not started
    assert not config.get("networks")


def test_the_services_find_each_other_on_loopback_ports_of_their_own(compose: Compose) -> None:
    config = local_config(compose, {"POSTGRES_PASSWORD": "pg1", "RABBITMQ_PASSWORD": "mq2",
                                    "LABGRADER_LOCAL_PG_PORT": "15442", "LABGRADER_LOCAL_AMQP_PORT": "15683"})
    for name in ("api", "worker-cpu", "worker-cpu-2"):
        environment = config["services"][name]["environment"]
        assert environment["LABGRADER_DATABASE_URL"] == "postgresql://labgrader:pg1@127.0.0.1:15442/labgrader"
        assert environment["LABGRADER_BROKER_URL"] == "amqp://labgrader:mq2@127.0.0.1:15683/labgrader"
    assert config["services"]["postgres"]["environment"]["PGPORT"] == "15442"
    assert config["services"]["postgres"]["environment"]["POSTGRES_LISTEN_ADDRESSES"] == "127.0.0.1"
    assert config["services"]["rabbitmq"]["environment"]["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1"
    assert config["services"]["api"]["command"] == ["serve", "--host", "127.0.0.1", "--port", "18000"]


def test_postgres_and_rabbitmq_come_from_debian_and_the_service_images_from_the_local_base(compose: Compose) -> None:
    services = local_config(compose)["services"]
    assert services["postgres"]["image"] == "labgrader/local-postgres:15-bookworm"
    assert services["rabbitmq"]["image"] == "labgrader/local-rabbitmq:3.10-bookworm"
    for name in ("api", "worker-cpu", "worker-cpu-2"):
        assert services[name]["build"]["args"]["BASE_IMAGE"] == "labgrader/debian-python:3.11-bookworm"
        assert services[name]["build"]["network"] == "host"
        assert services[name]["build"]["context"] == str(REPO)


def test_the_second_worker_has_a_workers_privileges_and_uids_of_its_own(compose: Compose) -> None:
    services = local_config(compose)["services"]
    base = compose.config(None, "--profile", "cpu")["services"]["worker-cpu"]
    second = services["worker-cpu-2"]
    for key in ("cap_drop", "cap_add", "security_opt", "init", "stop_grace_period", "restart", "image"):
        assert sorted(second[key]) == sorted(base[key]) if isinstance(base[key], list) else second[key] == base[key]
    assert second["build"]["dockerfile"] == base["build"]["dockerfile"]
    uid_bases = {name: services[name]["environment"]["LABGRADER_SANDBOX_UID_BASE"]
                 for name in ("worker-cpu", "worker-cpu-2")}
    assert uid_bases == {"worker-cpu": "62000", "worker-cpu-2": "63000"}
    assert services["worker-cpu"]["volumes"] != services["worker-cpu-2"]["volumes"]
