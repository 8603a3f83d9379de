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
ragged = numpy.array([(numpy.zeros((3, 1)), 0.5), (numpy.ones((3, 1)), 0.75)])  # the lesson's snapshots
out["ragged"] = [ragged.dtype.str, ragged.shape, float(ragged[1, 1]), numpy.array([[1, 2], [3, 4]]).dtype.kind]
try:
    numpy.array([[1], [2, 3]], dtype=float)
except ValueError:
    out["ragged"].append("a dtype asked for still raises")
for gui in ("widget", "ipympl", "inline", None):
    shell.enable_matplotlib(gui)
out["backends"] = shell.backends
shell.system("wget -q https://example.org/x/course.pkl.gz?raw=true")
out["link_left"] = os.path.lexists("course.pkl.gz")  # exists() answers for the served path
os.link("data/course.pkl.gz", "course.pkl.gz")
with open("own.pkl.gz", "wb") as f:
    f.write(b"the student's own")
shell.system("rm *.gz")
out["after_rm"] = [os.path.lexists("course.pkl.gz"), os.path.lexists("own.pkl.gz"), shell.ran]
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
    assert out["ragged"] == ["|O", [2, 2], 0.75, "i", "a dtype asked for still raises"]
    assert out["backends"] == ["inline", "inline", "inline", None]
    assert out["link_left"] is False  # root's read-only link went; the download writes the student's own file
    # rm would ask before removing the read-only link, and wait: the link goes first; the student's file is rm's
    assert out["after_rm"] == [False, True, "rm *.gz"]


def test_a_served_file_of_both_layouts_unpickles_in_the_kernel(tmp_path: Path) -> None:
    # the class the file names (`_labgrader_course.DictOrTuple`) comes with the description, not with the grader
    import pickle

    import numpy as np

    from grader.data.course_pickle import DictOrTuple
    from grader.data.serve import course_call
    from grader.spec.lab import discover_labs
    from lab_tasks import LABS_DIR

    x = np.arange(12 * 4, dtype=np.uint8).reshape(12, 4)
    y = np.arange(12, dtype=np.int64) % 10
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "both.pkl").write_bytes(pickle.dumps(DictOrTuple(x[:10], y[:10], x[10:], y[10:], 6, 8, 256)))
    call = course_call(discover_labs(LABS_DIR)["own_framework"])
    assert call.startswith("__labgrader_course_files({") and "course_module" in call
    script = tmp_path / "cell.py"
    script.write_text(SHELL + source("course_files.py") + call + '''
import pickle
with open("data/both.pkl", "rb") as f:
    mnist = pickle.load(f, encoding="latin1")
training, validation, test = mnist
print(json.dumps([type(mnist).__module__, mnist["Train"]["Features"].shape, mnist["Train"]["Features"].dtype.str,
                  training[0].shape, validation[0].shape, test[0].shape, float(mnist[0][0][1, 1]),
                  mnist[2][1].tolist()]))
''')
    run = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [
        "_labgrader_course", [6, 4], "<i8", [8, 4], [2, 4], [2, 4], 5 / 256, [0, 1]]
