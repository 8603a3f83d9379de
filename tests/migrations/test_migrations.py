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
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

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


def constraint_names(url: str) -> dict[str, tuple[str | None, list[str | None], list[str | None]]]:
    """table -> (primary key name, foreign key names, unique constraint names)."""
    engine = make_engine(url)
    inspector = inspect(engine)
    found = {table: (inspector.get_pk_constraint(table).get("name"),
                     sorted((fk["name"] for fk in inspector.get_foreign_keys(table)), key=str),
                     sorted((uq["name"] for uq in inspector.get_unique_constraints(table)), key=str))
             for table in inspector.get_table_names() if table != "alembic_version"}
    engine.dispose()
    return found


def row_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("labs", "users", "submissions", "grading_jobs", "artifacts", "check_results")}
    engine.dispose()
    return counts


def test_constraint_names_follow_the_convention_up_and_down_with_rows_kept(database_url: str) -> None:
    """The constraint-names migration renames the names a database chose itself (PostgreSQL's `users_pkey`, SQLite's
    none) to the models' convention and back; no row is lost on the way (on SQLite the tables are rebuilt, cascades
    must not fire)."""
    config = alembic_config(database_url)
    script = ScriptDirectory.from_config(config)
    migration = next(r for r in script.walk_revisions() if (r.doc or "").startswith("constraint names"))
    renaming, before_it = migration.revision, str(migration.down_revision)
    command.upgrade(config, renaming)
    command.downgrade(config, before_it)  # what a database created before the convention holds
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO labs (id, title, spec_json, spec_hash, active) "
                          "VALUES ('l', 'L', '{}', 'h', true)"))
        conn.execute(text("INSERT INTO users (id, name, role, token_hash, token_prefix) "
                          "VALUES (1, 'ann', 'student', 't', 'p')"))
        conn.execute(text("INSERT INTO submissions (id, lab_id, student_id, status, max_score, filename) "
                          "VALUES (1, 'l', 1, 'graded', 10, 'a.ipynb')"))
        conn.execute(text("INSERT INTO grading_jobs (id, submission_id, student_id, queue, status, attempt) "
                          "VALUES (1, 1, 1, 'live', 'graded', 1)"))
        conn.execute(text("INSERT INTO artifacts (submission_id, kind, content_type, content) "
                          "VALUES (1, 'submitted_notebook', 'application/x-ipynb+json', :c)"), {"c": b"{}"})
        conn.execute(text("INSERT INTO check_results (submission_id, job_id, position, check_id, title, passed, score, "
                          "max_score, message) VALUES (1, 1, 0, 'c', 'C', true, 1, 1, 'ok')"))
    engine.dispose()
    rows = row_counts(database_url)
    assert rows == {"labs": 1, "users": 1, "submissions": 1, "grading_jobs": 1, "artifacts": 1, "check_results": 1}

    before = constraint_names(database_url)
    if database_url.startswith("sqlite"):
        assert before["users"] == (None, [], [None, None])
        assert before["check_results"] == (None, [None, None], [])
    else:
        assert before["users"] == ("users_pkey", [], ["users_name_key", "users_token_hash_key"])
        assert before["check_results"] == ("check_results_pkey", ["check_results_job_id_fkey",
                                                                  "check_results_submission_id_fkey"], [])

    command.upgrade(config, renaming)
    after = constraint_names(database_url)
    assert after["users"] == ("pk_users", [], ["uq_users_name", "uq_users_token_hash"])
    assert after["submissions"] == ("pk_submissions", ["fk_submissions_lab_id_labs", "fk_submissions_student_id_users"],
                                    [])
    assert after["check_results"] == ("pk_check_results", ["fk_check_results_job_id_grading_jobs",
                                                           "fk_check_results_submission_id_submissions"], [])
    assert row_counts(database_url) == rows

    command.downgrade(config, before_it)
    assert constraint_names(database_url) == before
    assert row_counts(database_url) == rows
    command.upgrade(config, "head")
    assert schema_drift(database_url) == []
    assert row_counts(database_url) == rows


def test_compressed_artifacts_read_after_upgrade_and_are_decompressed_by_downgrade(database_url: str) -> None:
    """Rows stored before compression (no encoding column) read as `identity` after the upgrade; gzip rows written by
    the service are decompressed in place by the downgrade, so the older code reads every row it finds."""
    from server.jobs.models import Artifact
    from server.jobs.stored_artifacts import artifact_content, new_artifact

    config = alembic_config(database_url)
    script = ScriptDirectory.from_config(config)
    migration = next(r for r in script.walk_revisions() if (r.doc or "").startswith("compressed artifacts"))
    command.upgrade(config, str(migration.down_revision))
    old_notebook = b'{"cells": [], "note": "' + b"stored before compression " * 1000 + b'"}'
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO labs (id, title, spec_json, spec_hash, active) "
                          "VALUES ('l', 'L', '{}', 'h', true)"))
        conn.execute(text("INSERT INTO users (id, name, role, token_hash, token_prefix) "
                          "VALUES (1, 'ann', 'student', 't', 'p')"))
        conn.execute(text("INSERT INTO submissions (id, lab_id, student_id, status, max_score, filename) "
                          "VALUES (1, 'l', 1, 'graded', 10, 'a.ipynb')"))
        conn.execute(text("INSERT INTO artifacts (submission_id, kind, content_type, content) "
                          "VALUES (1, 'submitted_notebook', 'application/x-ipynb+json', :c)"), {"c": old_notebook})
    command.upgrade(config, migration.revision)
    new_notebook = b'{"cells": [], "note": "' + b"stored compressed " * 5000 + b'"}'
    with Session(engine) as session:
        session.add(new_artifact(1, "executed_notebook", "application/x-ipynb+json", new_notebook))
        session.commit()
        rows = {a.kind: a for a in session.scalars(select(Artifact))}
        assert rows["submitted_notebook"].content_encoding == "identity"
        assert artifact_content(rows["submitted_notebook"]) == old_notebook
        assert rows["executed_notebook"].content_encoding == "gzip"
        assert len(rows["executed_notebook"].content) < len(new_notebook) // 20
        assert artifact_content(rows["executed_notebook"]) == new_notebook

    command.downgrade(config, str(migration.down_revision))
    with engine.connect() as conn:
        stored: dict[str, bytes] = dict(conn.execute(text("SELECT kind, content FROM artifacts")).tuples().all())
    assert {k: bytes(v) for k, v in stored.items()} == {"submitted_notebook": old_notebook,
                                                          "executed_notebook": new_notebook}
    command.upgrade(config, "head")
    assert schema_drift(database_url) == []
    engine.dispose()
