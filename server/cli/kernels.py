"""`labgrader kernels build|list|check`, and the refusal of `serve` and `worker` to start while a student environment
a lab uses does not start inside the sandbox (`server.environments` checks them)."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grader import (
    DEFAULT_ENVIRONMENT,
    EnvironmentStatus,
    EnvironmentUnavailable,
    StudentEnvironment,
    build_environment,
    discover_labs,
    environment_definitions,
    read_environment_marker,
    sha256_of,
)
from lab_tasks import LABS_DIR
from server.environments import check_environments
from server.settings import Settings

log = logging.getLogger("labgrader.kernels")


def _definitions(settings: Settings) -> dict[str, Path]:
    return environment_definitions(settings.labs_dir, LABS_DIR)


def refuse_on_failure(statuses: Sequence[EnvironmentStatus], command: str) -> int:
    """0 when every environment started; else print one line per failure and return the exit status 3."""
    failed = [s for s in statuses if not s.ok]
    for status in failed:
        print(f"error: {status.detail}", file=sys.stderr)
    if failed:
        print(f"error: `labgrader {command}` does not start until every student environment starts in the sandbox "
              "(`labgrader kernels list` shows them)", file=sys.stderr)
        return 3
    for status in statuses:
        log.info("student environment `%s` (%s) starts in the sandbox: %s", status.name, status.python,
                 ", ".join(f"{k} {v}" for k, v in status.versions.items()))
    return 0


def _describe(name: str, settings: Settings, definitions: dict[str, Path]) -> dict[str, object]:
    venv = settings.kernels_root / name
    marker = read_environment_marker(venv)
    requirements = definitions.get(name)
    entry: dict[str, object] = {"name": name, "requirements": str(requirements) if requirements else None,
                                "venv": str(venv), "built": marker is not None}
    try:
        env: StudentEnvironment | None = settings.student_environment(name)
    except EnvironmentUnavailable:
        env = None
    entry["python"] = env.python if env else None
    entry["source"] = env.source if env else "not built"
    if marker is not None:
        entry["versions"] = marker.get("versions", {})
        entry["built_at"] = marker.get("built_at")
        entry["size_mb"] = marker.get("size_mb")
        entry["build_s"] = marker.get("build_s")
        stale = requirements is not None and marker.get("requirements_sha256") != sha256_of(requirements)
        entry["up_to_date"] = not stale
    return entry


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    definitions = _definitions(settings)
    names = sorted(set(definitions) | {p.name for p in settings.kernels_root.glob("*") if p.is_dir()})
    entries = [_describe(name, settings, definitions) for name in names]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for entry in entries:
        state = "built" if entry["built"] else "not built"
        if entry["built"] and not entry.get("up_to_date", True):
            state += f" (out of date: {entry['requirements']} changed since; rebuild it)"
        print(f"{entry['name']}: {state}; kernels run {entry['python'] or '-'} ({entry['source']})")
        print(f"  requirements: {entry['requirements'] or '(none: no definition for this venv)'}")
        versions = entry.get("versions")
        if isinstance(versions, dict) and versions:
            print("  " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        if entry["built"]:
            print(f"  {entry['venv']}: {entry['size_mb']} MB, built {entry['built_at']} in {entry['build_s']} s")
    return 0


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    definitions = _definitions(settings)
    names = args.names or [DEFAULT_ENVIRONMENT]
    for name in names:
        if name not in definitions:
            print(f"error: no student environment `{name}`: no environments/{name}.txt; "
                  f"known: {', '.join(sorted(definitions))}", file=sys.stderr)
            return 2
    base = args.python or getattr(sys, "_base_executable", sys.executable)
    for name in names:
        print(f"building the student environment `{name}` from {definitions[name]} in {settings.kernels_root / name}",
              file=sys.stderr)
        try:
            marker = build_environment(name, definitions[name], settings.kernels_root, base,
                                        use_pip_config=args.use_pip_config, clean=args.clean)
        except EnvironmentUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except subprocess.CalledProcessError as exc:
            print(f"error: building `{name}` failed: `{' '.join(map(str, exc.cmd))[:300]}` exited {exc.returncode} "
                  "(its output is above)", file=sys.stderr)
            return 1
        versions = ", ".join(f"{k} {v}" for k, v in marker["versions"].items())
        print(f"built `{name}` in {marker['build_s']} s ({marker['size_mb']} MB): {versions}")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    specs = list(discover_labs(settings.labs_dir).values())
    statuses = check_environments(settings, specs)
    if args.names:
        statuses = [s for s in statuses if s.name in args.names]
    for status in statuses:
        print(f"{status.name}: {'starts in the sandbox' if status.ok else status.detail}")
    return 0 if all(s.ok for s in statuses) else 3


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kernels = sub.add_parser("kernels", help="student environments: build, list, check")
    ksub = kernels.add_subparsers(dest="kernels_command", required=True)
    build = ksub.add_parser("build", help="build student environments into their own venvs (default: `default`)")
    build.add_argument("names", nargs="*", metavar="NAME")
    build.add_argument("--clean", action="store_true", help="build anew even when the build in use is up to date")
    build.add_argument("--python", default=None, help="the base interpreter of the venv (default: this one's)")
    build.add_argument("--use-pip-config", action="store_true",
                       help="let pip read this machine's configuration (a mirror, a proxy); default: isolated")
    build.set_defaults(func=_run(cmd_build))
    listing = ksub.add_parser("list", help="every environment: built or not, its versions, its interpreter")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_run(cmd_list))
    check = ksub.add_parser("check", help="start each environment the labs use inside the sandbox")
    check.add_argument("names", nargs="*", metavar="NAME")
    check.set_defaults(func=_run(cmd_check))


def _run(command: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return command(args, Settings())

    return run
