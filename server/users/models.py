"""A person who submits (student) or grades (instructor); only a hash of the API token is stored."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class Role(StrEnum):
    STUDENT = "student"
    TA = "ta"  # view, comment, override, regrade; no roster or lab administration
    INSTRUCTOR = "instructor"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    # page sessions carry the generation they were made in; logging out bumps it, ending every one of them
    session_generation: Mapped[int] = mapped_column(Integer, server_default="0")
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)  # a disabled user can neither log in nor call
    token_revoked_at: Mapped[datetime | None] = mapped_column(DateTime)  # no valid token until one is reset
    full_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    student_number: Mapped[str | None] = mapped_column(String(64))  # the institution's student id

    @property
    def is_instructor(self) -> bool:
        return self.role == Role.INSTRUCTOR

    @property
    def is_staff(self) -> bool:
        """Instructors and TAs: they see every submission, comment, override and regrade."""
        return self.role in (Role.INSTRUCTOR, Role.TA)


class AuditEvent(Base):
    """Who changed the roster, when, and how (token resets, revocations, disabling, deletions)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)


class PageSessionRecord(Base):
    """One page session on the server: logging out, a token reset or revocation ends every one of a user's.

    Only a SHA-256 digest of the session's random id is stored, so a copy of the table logs nobody in."""

    __tablename__ = "page_sessions"
    __table_args__ = (Index("ix_page_sessions_user_id", "user_id"),)

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime)  # database clock, as every column here
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
