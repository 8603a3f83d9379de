"""The api and worker Dockerfiles: hadolint-clean, pinned, and the split between service and student kernel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import REPO, Compose

DOCKERFILES = [REPO / "docker" / "Dockerfile.api", REPO / "docker" / "Dockerfile.worker"]
KERNEL_ONLY = ("torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras")
PINNED_TAG = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?[\w.-]*$")


def pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_has_no_hadolint_finding(hadolint: str, dockerfile: Path) -> None:
    proc = subprocess.run([hadolint, "--no-color", "--format", "json", "--failure-threshold", "style",
                           str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout) == []
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_carry_an_exact_version(dockerfile: Path) -> None:
    """Every stage starts from BASE_IMAGE, whose default is the exact public image (docker/local-base.sh makes the
    stand-in for hosts without a registry)."""
    lines = dockerfile.read_text().splitlines()
    assert [line for line in lines if line.startswith("ARG BASE_IMAGE")] == [
        "ARG BASE_IMAGE=python:3.11.14-slim-bookworm"]
    assert lines.index("ARG BASE_IMAGE=python:3.11.14-slim-bookworm") < min(
        i for i, line in enumerate(lines) if line.startswith("FROM "))
    bases = {line.split()[1] for line in lines if line.startswith("FROM ")}
    assert bases == {"${BASE_IMAGE}"}


def test_the_student_environment_layer_comes_before_the_code() -> None:
    """A code change must not reinstall the 7 GB environment: its layer depends only on default.txt."""
    lines = (REPO / "docker" / "Dockerfile.worker").read_text().splitlines()
    environment = lines.index("COPY lab_tasks/environments/default.txt /tmp/kernel/default.txt")
    code = lines.index("COPY . /tmp/src")
    assert environment < code
    assert lines.index("RUN labgrader kernels build default") > code
    assert not any(line.startswith("ARG ") for line in lines[lines.index("FROM ${BASE_IMAGE}"):]), \
        "an ARG in the main stage is part of the cache key of every later RUN"


def test_compose_images_carry_an_exact_version(compose: Compose) -> None:
    services = compose.config()["services"]
    images = {name: spec["image"] for name, spec in services.items() if not spec.get("profiles")}
    assert images == {
        "postgres": "postgres:16.4-bookworm",
        "rabbitmq": "rabbitmq:3.13.7-management",
        "api": "labgrader/api:0.1.0",
        "worker": "labgrader/worker:0.1.0",
    }
    assert all(PINNED_TAG.match(spec["image"]) for spec in services.values())


def test_the_service_installs_everything_in_pyproject_and_no_deep_learning_library() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "service-requirements.py"),
                           str(REPO / "pyproject.toml"), "scale"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    project = pyproject()
    declared = [*project["dependencies"], *project["optional-dependencies"]["scale"]]
    assert proc.stdout.splitlines() == declared
    names = {re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0].lower() for r in declared}
    assert not names & set(KERNEL_ONLY), "the service never imports torch/TensorFlow: they belong in a kernel venv"


def test_an_unknown_extra_is_refused_by_name() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "service-requirements.py"),
                           str(REPO / "pyproject.toml"), "gpu"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    extras = ", ".join(sorted(pyproject()["optional-dependencies"]))
    assert proc.stderr.strip() == f"error: pyproject.toml has no extra 'gpu'; it has {extras}"


def test_the_default_environment_pins_every_library_and_matches_the_test_suites_torch() -> None:
    lines = [line for line in (REPO / "lab_tasks" / "environments" / "default.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert all("==" in line for line in lines), lines
    torch_pin = next(r for r in pyproject()["optional-dependencies"]["test"] if r.startswith("torch"))
    assert torch_pin in lines
    assert {line.split("==")[0].split("[")[0] for line in lines} >= {
        "torch", "torchvision", "lightning", "tensorflow", "keras", "ipykernel", "numpy", "scikit-learn", "pandas",
        "matplotlib", "seaborn"}


def test_the_worker_image_builds_the_default_environment_with_the_command_and_file_of_every_machine(
        compose: Compose) -> None:
    """One definition: the image runs `labgrader kernels build`, which reads lab_tasks/environments/default.txt
    from the installed package; no second requirements file, no interpreter override in compose."""
    dockerfile = (REPO / "docker" / "Dockerfile.worker").read_text()
    instructions = [" ".join(i.split()) for i in dockerfile.replace("\\\n", " ").splitlines()]
    runs = [i for i in instructions if i.startswith("RUN ")]
    assert any(run.endswith("labgrader kernels build default") for run in runs), runs
    assert "LABGRADER_KERNELS_DIR=/opt/labgrader-kernels" in dockerfile
    assert "pip install" not in next(r for r in runs if "kernels build" in r)
    assert not (REPO / "docker" / "kernel-requirements.txt").exists()
    assert "LABGRADER_KERNEL_PYTHON" not in dockerfile
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "environments/*.txt" in package_data["lab_tasks"]
    services = compose.config(None, "--profile", "cpu")["services"]
    for name in ("worker", "worker-cpu"):
        assert "LABGRADER_KERNEL_PYTHON" not in services[name]["environment"]


def test_the_worker_entrypoint_is_valid_posix_shell() -> None:
    proc = subprocess.run(["sh", "-n", str(REPO / "docker" / "worker-entrypoint.sh")],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, "")
