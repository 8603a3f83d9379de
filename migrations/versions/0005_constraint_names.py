"""constraint names: primary, foreign and unique keys named by the models' convention (server.db.NAMING_CONVENTION)

Databases created before the convention hold the names PostgreSQL chose (`users_pkey`, `submissions_lab_id_fkey`,
`users_name_key`) or, on SQLite, no names at all. Upgrade renames them to `pk_<table>`, `fk_<table>_<columns>_<referred
table>`, `uq_<table>_<columns>`; downgrade gives back PostgreSQL's names, or no names on SQLite. Every table in the
database is covered, whichever migration created it. On SQLite a constraint is renamed by rebuilding its table (rows
kept, foreign-key enforcement paused meanwhile so no cascade fires).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Namer = Callable[[str, str, list[str], str | None], str | None]  # (kind, table, columns, referred table) -> name


def conventional(kind: str, table: str, columns: list[str], referred: str | None) -> str | None:
    """The names `server.db.NAMING_CONVENTION` gives (written out: a migration never imports the models)."""
    joined = "_".join(columns)
    return {"pk": f"pk_{table}", "fk": f"fk_{table}_{joined}_{referred}", "uq": f"uq_{table}_{joined}"}[kind]


def postgres_default(kind: str, table: str, columns: list[str], referred: str | None) -> str | None:
    """The names PostgreSQL gives unnamed constraints."""
    joined = "_".join(columns)
    return {"pk": f"{table}_pkey", "fk": f"{table}_{joined}_fkey", "uq": f"{table}_{joined}_key"}[kind]


def sqlite_default(kind: str, table: str, columns: list[str], referred: str | None) -> str | None:
    return None


def _tables(bind: sa.engine.Connection) -> list[str]:
    return [t for t in sa.inspect(bind).get_table_names() if t != "alembic_version"]


def _rename_postgres(bind: sa.engine.Connection, name_for: Namer) -> None:
    inspector = sa.inspect(bind)
    for table in _tables(bind):
        pk = inspector.get_pk_constraint(table)
        found = [("pk", pk["name"], pk["constrained_columns"], None)] if pk.get("name") else []
        found += [("fk", fk["name"], fk["constrained_columns"], fk["referred_table"])
                  for fk in inspector.get_foreign_keys(table)]
        found += [("uq", uq["name"], uq["column_names"], None) for uq in inspector.get_unique_constraints(table)]
        for kind, old, columns, referred in found:
            new = name_for(kind, table, columns, referred)
            if new and old != new:
                op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{new}"')


def _rebuild_sqlite(bind: sa.engine.Connection, name_for: Namer) -> None:
    for table_name in _tables(bind):
        table = sa.Table(table_name, sa.MetaData(), autoload_with=bind)
        changed = False
        for constraint in table.constraints:
            columns = [c.name for c in constraint.columns]
            if isinstance(constraint, sa.PrimaryKeyConstraint):
                new = name_for("pk", table_name, columns, None)
            elif isinstance(constraint, sa.ForeignKeyConstraint):
                new = name_for("fk", table_name, columns, constraint.referred_table.name)
            elif isinstance(constraint, sa.UniqueConstraint):
                new = name_for("uq", table_name, columns, None)
            else:
                continue
            if constraint.name != new:
                constraint.name = new  # type: ignore[assignment]
                changed = True
        if changed:
            with op.batch_alter_table(table_name, copy_from=table, recreate="always"):
                pass


def _rename(name_for_postgres: Namer, name_for_sqlite: Namer) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _rename_postgres(bind, name_for_postgres)
        return
    # a rebuilt table is dropped and re-created: with enforcement on, dropping `submissions` would cascade to its
    # jobs, results and artifacts. PRAGMA foreign_keys is a no-op inside a transaction; env.py runs each migration
    # in its own, which has written nothing yet here, so the pause takes effect. Refuse rather than risk the rows.
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("could not pause SQLite foreign-key enforcement; nothing was changed")
    try:
        _rebuild_sqlite(bind, name_for_sqlite)
        problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    _rename(conventional, conventional)


def downgrade() -> None:
    _rename(postgres_default, sqlite_default)
