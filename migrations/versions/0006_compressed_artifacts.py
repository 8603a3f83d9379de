"""compressed artifacts: `artifacts.content_encoding` says how a row's content is stored (`identity` or `gzip`)

Notebooks are stored gzip-compressed from this revision on (server.jobs.stored_artifacts). Upgrade adds the column;
the rows already there are `identity` and read unchanged (they are not rewritten: a large table would be locked for
the whole rewrite, and they stay correct as they are). Downgrade first decompresses every `gzip` row in place, so the
code of revision 0005, which knows no encoding, reads every row it finds, then drops the column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:40:00
"""

import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GZIP_WBITS = 31  # written out: a migration never imports the service's modules


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("content_encoding", sa.String(length=20), server_default="identity",
                                   nullable=False))


def downgrade() -> None:
    bind = op.get_bind()
    artifacts = sa.table("artifacts", sa.column("id", sa.Integer()), sa.column("content", sa.LargeBinary()),
                         sa.column("content_encoding", sa.String()))
    ids = bind.execute(sa.select(artifacts.c.id).where(artifacts.c.content_encoding == "gzip")).scalars().all()
    for artifact_id in ids:  # one row at a time: each holds up to a notebook and its outputs
        packed = bind.execute(sa.select(artifacts.c.content).where(artifacts.c.id == artifact_id)).scalar_one()
        bind.execute(sa.update(artifacts).where(artifacts.c.id == artifact_id)
                     .values(content=zlib.decompress(packed, GZIP_WBITS), content_encoding="identity"))
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("content_encoding")
