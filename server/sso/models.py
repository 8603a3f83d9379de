"""The single-use state of one SSO login: what the callback must match (state, nonce, PKCE verifier)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class SsoLoginState(Base):
    __tablename__ = "sso_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime)  # database clock
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
