"""Production refuses to grade with the service's own interpreter as the student kernel: its venv (this service, the
labs' reference solutions) would be mounted, readable, into the sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

from server.environments import check_environments, is_service_interpreter
from server.settings import Environment, Settings


def test_the_service_interpreter_is_recognised() -> None:
    assert is_service_interpreter(sys.executable)
    assert not is_service_interpreter("/usr/bin/python3")


def test_production_refuses_the_service_interpreter(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.PRODUCTION, secret_key="x" * 32, data_dir=tmp_path,
                        kernel_python=sys.executable)
    [status] = check_environments(settings, [])
    assert not status.ok
    assert status.detail.startswith(f"in production, student kernels must not run the service's own interpreter "
                                    f"{sys.executable}")


def test_an_unbuilt_default_is_refused_in_production(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.PRODUCTION, secret_key="x" * 32, data_dir=tmp_path,
                        kernels_dir=tmp_path / "kernels")  # nothing built there, whatever the environment says
    [status] = check_environments(settings, [])
    assert not status.ok and "service's own interpreter" in status.detail
