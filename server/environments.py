"""The student environments the labs use, as the service checks them at start and `/healthz` shows them."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import (
    DEFAULT_ENVIRONMENT,
    EnvironmentNotReady,
    EnvironmentStatus,
    EnvironmentUnavailable,
    LabSpec,
    check_environment,
    probe_isolation,
    read_environment_marker,
)
from server.settings import Environment, Settings

SERVICE_INTERPRETER_REFUSED = (
    "in production, student kernels must not run the service's own interpreter {python}: its environment, with this "
    "service's code and the labs' reference solutions, would be readable inside the sandbox; build the environment "
    "with `labgrader kernels build {name}` or point LABGRADER_KERNEL_PYTHON at another venv")


def is_service_interpreter(python: str) -> bool:
    """Whether `python` runs this service's own environment: the same venv (told apart by its root, not by the base
    binary every venv links to), or this very interpreter where the service runs outside a venv."""
    if sys.prefix != sys.base_prefix:
        root = Path(os.path.abspath(python)).parent.parent
        try:
            return os.path.samefile(root, sys.prefix)
        except OSError:
            return False
    return os.path.realpath(python) == os.path.realpath(sys.executable)


def not_ready_reason(settings: Settings, name: str) -> str:
    """Why `name` cannot be used now because its build is under way or did not finish ("" when that is not so)."""
    try:
        settings.student_environment(name)
    except EnvironmentNotReady as exc:
        return str(exc)
    except EnvironmentUnavailable:
        return ""
    return ""


def used_environments(specs: Sequence[LabSpec]) -> dict[str, tuple[str, ...]]:
    """Each environment the labs name (and `default`), with the frameworks those labs import."""
    used: dict[str, set[str]] = {DEFAULT_ENVIRONMENT: set()}
    for spec in specs:
        used.setdefault(spec.environment, set()).update(spec.frameworks)
    return {name: tuple(sorted(frameworks)) for name, frameworks in sorted(used.items())}


def check_environments(settings: Settings, specs: Sequence[LabSpec]) -> list[EnvironmentStatus]:
    """Start every environment the labs use inside the sandbox (where this host runs student code at all)."""
    statuses: list[EnvironmentStatus] = []
    for name, frameworks in used_environments(specs).items():
        try:
            env = settings.student_environment(name)
        except EnvironmentUnavailable as exc:
            statuses.append(EnvironmentStatus(name, "", "not built", False, str(exc)))
            continue
        if settings.environment is Environment.PRODUCTION and is_service_interpreter(env.python):
            statuses.append(EnvironmentStatus(name, env.python, env.source, False,
                                              SERVICE_INTERPRETER_REFUSED.format(python=env.python, name=name)))
            continue
        config = settings.sandbox_config(name)
        isolation = probe_isolation(config)
        if not isolation.runs_student_code:
            statuses.append(EnvironmentStatus(name, env.python, env.source, False,
                                              f"not checked: {isolation.detail}"))
            continue
        statuses.append(check_environment(env, config, isolation, settings.jobs_root, frameworks))
    return statuses


def unchecked_environments(settings: Settings, specs: Sequence[LabSpec]) -> list[EnvironmentStatus]:
    """What the settings and the built venvs say, without starting anything (an app made without `serve`)."""
    statuses: list[EnvironmentStatus] = []
    for name in used_environments(specs):
        try:
            env = settings.student_environment(name)
        except EnvironmentUnavailable as exc:
            statuses.append(EnvironmentStatus(name, "", "not built", False, str(exc)))
            continue
        marker = read_environment_marker(env.venv) if env.venv else None
        versions = marker.get("versions", {}) if marker else {}
        statuses.append(EnvironmentStatus(name, env.python, env.source, False, "not checked", dict(versions)))
    return statuses
