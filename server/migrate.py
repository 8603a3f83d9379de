"""Run Alembic migrations programmatically (`labgrader db upgrade`, and on `labgrader serve` start)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config


def script_directory() -> Path:
    """The `migrations` folder: Alembic's script directory, which Alembic loads itself (named here, not imported)."""
    found = importlib.util.find_spec("migrations")
    if found is None or found.origin is None:
        raise RuntimeError("the `migrations` package is not installed beside `server`: reinstall labgrader")
    return Path(found.origin).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_directory()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
