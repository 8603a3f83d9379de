"""The start-up cell as a whole (in_kernel/startup.py installs what the other start-up sources define): nothing of it
stays in the student's namespace; the process, the seeds, the import hooks, urllib and the notes after each cell are
set up as the kernel's first private cell sets them up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.evaluation.in_kernel import STARTUP_SOURCES, harness_source, source, startup_code
from tests.grader.evaluation.in_kernel.conftest import run_started

SHELL = """
class Events:
    def __init__(self):
        self.hooks = []
    def register(self, name, hook):
        self.hooks.append((name, hook))
class Shell:
    def __init__(self):
        self.user_ns, self.execution_count, self.events, self.ran = {}, 0, Events(), []
    def system(self, command):
        self.ran.append(command)
    def getoutput(self, command):
        self.ran.append(command)
        return 'out'
SHELL = Shell()
def get_ipython():
    return SHELL
"""


def test_the_start_up_leaves_nothing_in_the_namespace_and_sets_up_the_process(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "helper.py").write_text("VALUE = 42\n")
    found = run_started(tmp_path, """
import json, os, random, sys
import numpy
import helper
left = sorted(k for k in globals() if not k.startswith('__') and k not in ('get_ipython', 'json', 'os', 'random',
                                                                          'sys', 'numpy', 'helper'))
print(json.dumps({"left": left, "threads": [os.environ[n] for n in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                  "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")],
                  "reserve": len(sys._labgrader_reserve), "helper": helper.VALUE,
                  "tmp": os.path.isdir(os.environ["TMPDIR"]),
                  "random": random.random(), "numpy": numpy.random.rand(),
                  "finders": [type(f).__name__ for f in sys.meta_path][:1]}))
""", env={"LABGRADER_CPU_THREADS": "3"})
    assert found["left"] == []
    assert found["threads"] == ["3", "3", "3", "3", "1"]
    assert found["reserve"] == 64 << 20
    assert (found["helper"], found["tmp"]) == (42, True)
    import random

    assert found["random"] == random.Random(0).random()
    assert found["numpy"] == np.random.RandomState(0).rand()
    assert found["finders"] == ["AfterImport"]


def test_torch_is_seeded_and_threaded_when_the_student_imports_it(tmp_path: Path) -> None:
    found = run_started(tmp_path, """
import json
import torch
print(json.dumps({"seed": torch.initial_seed(), "threads": torch.get_num_threads()}))
""", env={"LABGRADER_CPU_THREADS": "2"})
    assert found == {"seed": 0, "threads": 2}


def test_the_shell_gets_the_notes_after_each_cell_and_the_served_downloads(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.npz").write_bytes(b"served bytes")
    found = run_started(tmp_path, """
import json, urllib.request, _labgrader_seen
_labgrader_seen.serve({"urls": {"https://example.org/d.npz": "d.npz"}})
SHELL.system("wget -q https://example.org/d.npz -O got.npz")
SHELL.system("ls")
SHELL.user_ns.update(history={"loss": [1.0, 0.5]}, other=3)
SHELL.execution_count = 4
[hook for name, hook in SHELL.events.hooks if name == "post_run_cell"][0](None)
print(json.dumps({"hooks": [name for name, _ in SHELL.events.hooks], "ran": SHELL.ran,
                  "got": open("got.npz", "rb").read().decode(),
                  "opened": urllib.request.urlopen("https://example.org/d.npz").read().decode(),
                  "histories": [(label, cell) for label, cell, _ in _labgrader_seen.histories]}))
""", before=SHELL)
    assert found == {"hooks": ["post_run_cell"], "ran": ["ls"], "got": "served bytes", "opened": "served bytes",
                     "histories": [["history", 4]]}


def test_the_recogniser_is_one_source_shared_by_the_start_up_and_the_harness() -> None:
    recogniser = source("recognise.py")
    assert "recognise.py" in STARTUP_SOURCES
    assert startup_code().count(recogniser) == 1
    assert harness_source().count(recogniser) == 1
    assert harness_source(("perceptron",)).count(recogniser) == 1
    assert "def framework_of" not in startup_code().replace(recogniser, "")
    assert "def framework_of" not in harness_source().replace(recogniser, "")
