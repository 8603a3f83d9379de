"""lti: platform registrations, single-use login states, platform users linked to Labgrader users, links placed in
courses, the grade passback ledger; single-use SSO login states

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lti_platforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.String(length=300), nullable=False),
        sa.Column("deployment_id", sa.String(length=300), nullable=False),
        sa.Column("keyset_url", sa.Text(), nullable=False),
        sa.Column("auth_url", sa.Text(), nullable=False),
        sa.Column("token_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lti_platforms"),
        sa.UniqueConstraint("issuer", "client_id", "deployment_id",
                            name="uq_lti_platforms_issuer_client_id_deployment_id"),
    )
    op.create_table(
        "lti_login_states",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], ondelete="CASCADE",
                                name="fk_lti_login_states_platform_id_lti_platforms"),
        sa.PrimaryKeyConstraint("state", name="pk_lti_login_states"),
        sa.UniqueConstraint("nonce", name="uq_lti_login_states_nonce"),
    )
    op.create_table(
        "lti_user_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_lti_user_links_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_lti_user_links"),
        sa.UniqueConstraint("issuer", "subject", name="uq_lti_user_links_issuer_subject"),
    )
    op.create_table(
        "lti_resource_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("resource_link_id", sa.String(length=300), nullable=False),
        sa.Column("lab_id", sa.String(length=100), nullable=False),
        sa.Column("lineitem_url", sa.Text(), nullable=True),
        sa.Column("memberships_url", sa.Text(), nullable=True),
        sa.Column("roster_synced_at", sa.DateTime(), nullable=True),
        sa.Column("roster_error", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"], ondelete="CASCADE",
                                name="fk_lti_resource_links_platform_id_lti_platforms"),
        sa.PrimaryKeyConstraint("id", name="pk_lti_resource_links"),
        sa.UniqueConstraint("platform_id", "resource_link_id",
                            name="uq_lti_resource_links_platform_id_resource_link_id"),
    )
    op.create_table(
        "lti_grade_passbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("score_given", sa.Float(), nullable=True),
        sa.Column("score_maximum", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["lti_resource_links.id"], ondelete="CASCADE",
                                name="fk_lti_grade_passbacks_link_id_lti_resource_links"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_lti_grade_passbacks_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_lti_grade_passbacks"),
        sa.UniqueConstraint("link_id", "user_id", name="uq_lti_grade_passbacks_link_id_user_id"),
    )


    op.create_table(
        "sso_login_states",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_path", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("state", name="pk_sso_login_states"),
    )


def downgrade() -> None:
    op.drop_table("sso_login_states")
    op.drop_table("lti_grade_passbacks")
    op.drop_table("lti_resource_links")
    op.drop_table("lti_user_links")
    op.drop_table("lti_login_states")
    op.drop_table("lti_platforms")
