"""in_kernel/course_files.py, run in a fresh Python from the text the kernel runs: the served pickles answered at
the declared paths that climb out of the notebook's folder, a path of the student's computer named as such, NumPy 1
names where the lab opts in, interactive matplotlib backends drawn inline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from grader.evaluation.in_kernel import source

SHELL = '''
import io, json, os
class Shell:
    def __init__(self):
        self.user_ns = {"open": lambda file, *a, **k: io.open(file, *a, **k)}  # IPython's own open
        self.backends = []
    def enable_matplotlib(self, gui=None):
        self.backends.append(gui)
    def system(self, command):
        self.ran = command
shell = Shell()
def get_ipython():
    return shell
'''

CHECKS = '''
import numpy
out = {}
out["climbed"] = shell.user_ns["open"]("../../data/course.pkl.gz", "rb").read().decode()
out["exists"] = [os.path.exists("../../data/course.pkl.gz"), os.path.exists("../../data/other.pkl.gz")]
out["builtin"] = open("./../../data/course.pkl.gz", "rb").read().decode()
try:
    open("../../data/course.pkl.gz", "wb")
except OSError as exc:
    out["write"] = type(exc).__name__
for path in (r"C:\\Users\\me\\course.pkl.gz", "/home/me/course.pkl.gz", "/home/me/unknown.pkl"):
    try:
        shell.user_ns["open"](path, "rb")
    except FileNotFoundError as exc:
        out.setdefault("foreign", []).append(str(exc))
out["nan"] = [numpy.NAN != numpy.NAN, numpy.float_ is numpy.float64, float(numpy.NINF)]
for gui in ("widget", "ipympl", "inline", None):
    shell.enable_matplotlib(gui)
out["backends"] = shell.backends
shell.system("wget -q https://example.org/x/course.pkl.gz?raw=true")
out["link_left"] = os.path.lexists("course.pkl.gz")  # exists() answers for the served path
print(json.dumps(out))
'''


def test_course_files_are_answered_and_foreign_paths_named(tmp_path: Path) -> None:
    work = tmp_path / "a" / "b" / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "course.pkl.gz").write_bytes(b"served")
    (work / "course.pkl.gz").hardlink_to(work / "data" / "course.pkl.gz")
    (work / "data" / "course.pkl.gz").chmod(0o444)
    description = {"paths": {"course.pkl.gz": "course.pkl.gz", "../../data/course.pkl.gz": "course.pkl.gz"},
                   "numpy1_names": True}
    script = work / "cell.py"
    script.write_text(SHELL + source("course_files.py") + f"__labgrader_course_files({description!r})\n" + CHECKS)
    run = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert (out["climbed"], out["exists"], out["builtin"], out["write"]) == (
        "served", [True, False], "served", "FileNotFoundError")
    assert out["foreign"] == [
        "C:\\Users\\me\\course.pkl.gz is a path on your computer, not on the grader: it serves course.pkl.gz as "
        "`course.pkl.gz` (from the notebook's folder)",
        "/home/me/course.pkl.gz is a path on your computer, not on the grader: it serves course.pkl.gz as "
        "`course.pkl.gz` (from the notebook's folder)",
        "[Errno 2] No such file or directory: '/home/me/unknown.pkl'"]
    assert out["nan"] == [True, True, float("-inf")]
    assert out["backends"] == ["inline", "inline", "inline", None]
    assert out["link_left"] is False  # root's read-only link went; the download writes the student's own file
