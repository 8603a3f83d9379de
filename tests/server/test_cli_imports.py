"""`labgrader grade` imports only what grading uses: no web app, no ORM (each costs tenths of a second per run)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

GRADE_IMPORTS = """
import json, sys
import server.cli.main
from grader import grade_notebook, parse_notebook, prepare_labs, discover_labs
import server.cli.render
print(json.dumps(sorted(m for m in ("sqlalchemy", "fastapi", "starlette", "uvicorn", "jinja2", "alembic", "celery",
                                    "matplotlib", "torch", "tensorflow") if m in sys.modules)))
"""


def test_the_grade_command_imports_no_web_app_orm_or_framework() -> None:
    proc = subprocess.run([sys.executable, "-c", GRADE_IMPORTS], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=120)
    assert json.loads(proc.stdout) == []
