"""Every Alembic migration upgrades and downgrades cleanly, one step at a time, on SQLite and on PostgreSQL, and
the head schema is exactly what the models declare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import server.models  # noqa: F401  (registers every table)
from server.db import Base, make_engine
from server.migrate import alembic_config

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def revisions_in_order(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return revision


def schema_drift(url: str) -> list[object]:
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(diffs)


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"labgrader_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_every_migration_upgrades_then_downgrades_step_by_step(database_url: str) -> None:
    config = alembic_config(database_url)
    revisions = revisions_in_order(database_url)
    assert revisions, "no migrations found"

    for revision in revisions:
        command.upgrade(config, revision)
        assert current_revision(database_url) == revision
    assert schema_drift(database_url) == []
    assert {"grading_jobs", "submissions", "users", "labs", "artifacts", "check_results"} <= tables(database_url)

    for previous in [*reversed(revisions[:-1]), "base"]:
        command.downgrade(config, "-1")
        assert current_revision(database_url) == (None if previous == "base" else previous)
    assert tables(database_url) <= {"alembic_version"}

    command.upgrade(config, "head")  # and back up again from nothing: downgrades left no debris behind
    assert current_revision(database_url) == revisions[-1]
    assert schema_drift(database_url) == []
