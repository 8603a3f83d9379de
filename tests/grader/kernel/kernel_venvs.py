"""Kernel venvs for tests, made offline: a venv from the service's base interpreter with only ipykernel (and what it
needs) copied from the service's own venv, laid out as the worker image lays out its kernel venv."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _closure(root: str) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            match = NAME.match(requirement)
            if match:
                todo.append(match.group(1))
    return list(seen.values())


def make_kernel_venv(path: Path, *packages: str, with_pip: bool = False) -> Path:
    """A venv at `path` from the base interpreter of this test run, with `packages` (default ipykernel); its python.
    `with_pip`: pip too (from the interpreter's bundled wheel, offline), as `labgrader kernels build` makes them."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", *([] if with_pip else ["--without-pip"]), str(path)], check=True,
                   timeout=300)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(path), "platbase": str(path)}))
    source = Path(sysconfig.get_path("purelib"))
    for dist in [d for p in packages or ("ipykernel",) for d in _closure(p)]:
        for file in dist.files or []:
            origin = Path(str(dist.locate_file(file)))
            if not origin.is_file() or not origin.is_relative_to(source):
                continue  # console scripts and data outside site-packages are not needed to start a kernel
            target = site / origin.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    for item in path.rglob("*"):
        item.chmod(0o755 if item.is_dir() else item.stat().st_mode | 0o444)
    path.chmod(0o755)
    return path / "bin" / "python"
