"""Submitted files cannot change how the kernel starts: it starts with `python -P` (the work directory, where they
land, is not on sys.path until the grader's set-up is done), with IPython's and Jupyter's configuration in a root-owned
directory that is read-only in the sandbox, and without the user site-packages. Start-up files among the submitted
files are refused (tests/grader/upload/test_attachments.py); written by the notebook at run time they change
nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from grader.upload.attachments import SubmittedFile
from lab_tasks import LABS_DIR
from tests.lab_data import TRAIN_IRIS, frameworks_data

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")

SHADOW = b"raise SystemExit('a submitted file ran while the kernel started')\n"
WHERE = """
import os, sys
ip = get_ipython()
print(ip.profile_dir.location.startswith(os.getcwd()), os.access(ip.profile_dir.location, os.W_OK))
print(os.environ['JUPYTER_CONFIG_DIR'].startswith(os.getcwd()), sys.flags.no_user_site)
os.makedirs('.ipython/profile_default/startup', exist_ok=True)
with open('.ipython/profile_default/startup/00-evil.py', 'w') as fh:
    fh.write('raise SystemExit(1)\\n')
os.makedirs('.local/lib/python3.11/site-packages', exist_ok=True)
with open('.local/lib/python3.11/site-packages/evil.pth', 'w') as fh:
    fh.write('import os; os._exit(7)\\n')
import helper
print(helper.VALUE)
"""


@needs_root
async def test_submitted_and_runtime_start_up_files_change_nothing(tmp_path: Path) -> None:
    spec = discover_labs(LABS_DIR)["frameworks"]
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    files = (SubmittedFile("traitlets.py", SHADOW), SubmittedFile("zmq.py", SHADOW),
             SubmittedFile("helper.py", b"VALUE = 42\n"))
    lab = frameworks_data(tmp_path / "data", mnist=None)
    ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=sys.executable), slot=26, cell_timeout_s=60,
                         notebook_timeout_s=120, harness_timeout_s=60, files=files)
    outcome = await grade_notebook(new_notebook(cells=[new_code_cell(WHERE), new_code_cell(TRAIN_IRIS)]), ctx)
    report = outcome.report
    executed = nbformat.reads(outcome.executed_notebook.decode(), as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[0].outputs if o.get("name") == "stdout")
    assert printed == "False False\nFalse 1\n42\n"
    assert report.execution_note == ""
    assert report.cell_errors == ()
    assert (report.checks[0].passed, report.checks[0].score) == (True, 20.0)
