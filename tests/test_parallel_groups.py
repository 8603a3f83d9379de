"""The suite's parallel scheduler keeps a group on one worker (with xdist_group marks alone, under pytest 9.2, the tests
of one group were spread over both workers)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO

SHARED_FIXTURE = {"test_grader_imports_nothing_of_server_or_lab_tasks", "test_lab_tasks_import_nothing_of_server",
                  "test_server_and_labs_use_the_grader_front_door", "test_no_circles",
                  "test_the_drawing_in_docs_is_the_house"}  # the five tests of tests/test_import_arrows.py's `found`


def test_a_groups_tests_run_on_one_worker() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not this run's worker
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider",
                           "tests/test_import_arrows.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = re.findall(r"^\[(gw\d)\] \[[ \d]+%\] PASSED tests/test_import_arrows.py::(\w+)", proc.stdout, re.MULTILINE)
    placed = {name: worker for worker, name in lines}
    assert placed.keys() >= SHARED_FIXTURE
    assert len({placed[name] for name in SHARED_FIXTURE}) == 1
