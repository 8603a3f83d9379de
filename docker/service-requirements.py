"""Print the service's pip requirements from pyproject.toml, without the student kernel's deep-learning libraries.

The service (API and the worker's host side) never imports torch or TensorFlow: those live only in the kernel's own
virtual environment (docker/kernel-requirements.txt). Usage: python service-requirements.py pyproject.toml [EXTRA...]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

KERNEL_ONLY = frozenset({"torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras"})
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement ("uvicorn[standard]>=0.30" -> "uvicorn")."""
    match = NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def service_requirements(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted: list[str] = list(project["dependencies"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"error: pyproject.toml has no extra {extra!r}; it has {', '.join(sorted(optional))}")
        wanted += optional[extra]
    return [r for r in wanted if requirement_name(r) not in KERNEL_ONLY]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    for requirement in service_requirements(Path(argv[0]), argv[1:]):
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
