"""Runs the kernel's start-up sources here, from the same text the kernel runs: in a fresh Python process where they
change the process (threads, seeds, sys.path, urllib, import hooks), in a namespace of this process where they only
define functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.evaluation.in_kernel import source, startup_source

NO_SHELL = "def get_ipython():\n    return None\n"


def sources(*names: str, **given: Any) -> dict[str, Any]:
    """A namespace in which the in-kernel sources `names` ran in order (after `given`'s names were set)."""
    namespace: dict[str, Any] = {"__name__": "labgrader_startup", **given}
    for name in names:
        exec(compile(source(name), name, "exec"), namespace)
    return namespace


def run_started(work: Path, after: str, before: str = NO_SHELL, env: dict[str, str] | None = None) -> Any:
    """Runs the start-up cell (after `before`, which defines `get_ipython`) then `after` in a fresh Python in `work`;
    `after` prints one JSON line, which is returned."""
    script = work / "cell.py"
    script.write_text(before + startup_source() + after, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TMPDIR": str(work / "tmp"), **(env or {})})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
