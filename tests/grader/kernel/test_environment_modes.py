"""`kernels build` opens a venv to the sandbox uids by changing only the modes that differ: the worker image runs it
over an environment installed in an earlier layer, where a chmod of an unchanged file would copy 7 GB up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.kernel.environments import open_for_reading


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_only_modes_that_differ_change_and_the_result_is_chmod_a_plus_rX_go_minus_w(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "lib" / "secret.py").write_text("x = 1\n")
    (venv / "lib" / "open.py").write_text("y = 2\n")
    (venv / "bin" / "tool").write_text("#!/bin/sh\n")
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (venv / "lib").chmod(0o700)
    (venv / "lib" / "secret.py").chmod(0o600)
    (venv / "lib" / "open.py").chmod(0o666)
    (venv / "bin" / "tool").chmod(0o700)
    (venv / "bin").chmod(0o755)
    venv.chmod(0o755)

    assert open_for_reading(venv) == 4
    assert {p.relative_to(venv).as_posix(): mode(p) for p in [venv, *venv.rglob("*")] if not p.is_symlink()} == {
        ".": 0o755, "lib": 0o755, "lib/secret.py": 0o644, "lib/open.py": 0o644, "bin": 0o755, "bin/tool": 0o755}
    assert open_for_reading(venv) == 0
