"""`labgrader grade` imports only what grading uses: no web app, no ORM (each costs tenths of a second per run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

GRADE_IMPORTS = """
import json, sys
import server.cli.main
from grader import grade_notebook, parse_notebook, prepare_labs, discover_labs
import server.cli.render
from server.errors import DomainError  # what main() catches
print(json.dumps(sorted(m for m in ("sqlalchemy", "fastapi", "starlette", "uvicorn", "jinja2", "alembic", "celery",
                                    "matplotlib", "torch", "tensorflow") if m in sys.modules)))
"""


def test_the_grade_command_imports_no_web_app_orm_or_framework() -> None:
    proc = subprocess.run([sys.executable, "-c", GRADE_IMPORTS], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=120)
    assert json.loads(proc.stdout) == []


async def test_the_error_handlers_still_answer_with_the_domain_message(tmp_path: Path) -> None:
    """server.errors loads FastAPI only when the app installs its handlers: a refused request still says why."""
    import httpx

    from server.app import create_app
    from server.migrate import upgrade
    from server.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'errors.db'}", data_dir=tmp_path / "data")
    upgrade(settings.database_url)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://labgrader.test") as client:
        refused = await client.get("/api/v1/labs", headers={"Authorization": "Bearer lg_not-a-token"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.json() == {"detail": "the token is not valid"}
