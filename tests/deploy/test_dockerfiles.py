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
    bases = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")]
    assert bases == ["python:3.11.14-slim-bookworm"]


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


def test_the_service_installs_everything_in_pyproject_except_the_deep_learning_libraries() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "service-requirements.py"),
                           str(REPO / "pyproject.toml"), "scale"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    project = pyproject()
    declared = [*project["dependencies"], *project["optional-dependencies"]["scale"]]
    kernel_only = [r for r in declared if re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0].lower() in KERNEL_ONLY]
    assert kernel_only, "pyproject.toml no longer lists torch/TensorFlow: update docker/service-requirements.py"
    assert proc.stdout.splitlines() == [r for r in declared if r not in kernel_only]


def test_an_unknown_extra_is_refused_by_name() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "service-requirements.py"),
                           str(REPO / "pyproject.toml"), "gpu"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    extras = ", ".join(sorted(pyproject()["optional-dependencies"]))
    assert proc.stderr.strip() == f"error: pyproject.toml has no extra 'gpu'; it has {extras}"


def test_the_kernel_venv_pins_every_library_and_matches_pyprojects_torch() -> None:
    lines = [line for line in (REPO / "docker" / "kernel-requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert all("==" in line for line in lines), lines
    torch_pin = next(r for r in pyproject()["dependencies"] if r.startswith("torch"))
    assert torch_pin in lines
    assert {line.split("==")[0].split("[")[0] for line in lines} >= {
        "torch", "torchvision", "tensorflow", "ipykernel", "numpy", "scikit-learn", "pandas", "matplotlib"}


def test_the_worker_image_and_compose_agree_on_the_kernels_python(compose: Compose) -> None:
    dockerfile = (REPO / "docker" / "Dockerfile.worker").read_text()
    assert "LABGRADER_KERNEL_PYTHON=/opt/kernel-venv/bin/python" in dockerfile
    assert "python -m venv /opt/kernel-venv" in dockerfile
    worker = compose.config()["services"]["worker"]
    assert worker["environment"]["LABGRADER_KERNEL_PYTHON"] == "/opt/kernel-venv/bin/python"


def test_the_worker_entrypoint_is_valid_posix_shell() -> None:
    proc = subprocess.run(["sh", "-n", str(REPO / "docker" / "worker-entrypoint.sh")],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, "")
