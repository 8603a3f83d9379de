"""LTI tables: platform registrations, login states (single use), which platform user is which Labgrader user, the
links placed in courses and the ledger of grade passbacks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class LtiPlatform(Base):
    """One registration of Labgrader in an LMS: what the LMS told the operator to paste (`lti add-platform`)."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(300))
    deployment_id: Mapped[str] = mapped_column(String(300))
    keyset_url: Mapped[str] = mapped_column(Text)
    auth_url: Mapped[str] = mapped_column(Text)
    token_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class LtiLoginState(Base):
    """The `state` and `nonce` of one OIDC login initiation; consumed by the launch that answers it, once."""

    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime)  # database clock
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class LtiUserLink(Base):
    """The platform's stable user id (`sub`) for a Labgrader user."""

    __tablename__ = "lti_user_links"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class PassbackStatus(StrEnum):
    NO_SCORE = "no_score"  # the student launched the link but has no counted score yet
    PENDING = "pending"  # to send (again): retried with backoff, never dropped
    SENT = "sent"


class LtiResourceLink(Base):
    """A link to one lab placed in an LMS course, with the grade column (line item) its scores go to."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("platform_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(300))
    lab_id: Mapped[str] = mapped_column(String(100))
    lineitem_url: Mapped[str | None] = mapped_column(Text)
    memberships_url: Mapped[str | None] = mapped_column(Text)
    roster_synced_at: Mapped[datetime | None] = mapped_column(DateTime)
    roster_error: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class LtiGradePassback(Base):
    """The score one student should have in one LMS grade column, and whether the LMS has it yet.

    One row per (link, student): a changed counted score rewrites the row to `pending` with the new score, so the LMS
    always ends with the latest one; a failed send stays `pending` with its error and the time of the next try.
    """

    __tablename__ = "lti_grade_passbacks"
    __table_args__ = (UniqueConstraint("link_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_links.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300))  # the LMS's user id
    score_given: Mapped[float | None] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(Text, server_default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
