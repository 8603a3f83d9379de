"""The key that signs page sessions: `LABGRADER_SECRET_KEY`, or one generated on first start and kept in the data dir.

No default key exists anywhere in the code. In development, with none configured, the service makes a random
256-bit key on its first start, writes it to `DATA_DIR/secret_key` (mode 0600, created atomically so that two
processes starting together agree on one key) and logs once that it did; later starts read it back. Production
refuses to start without a configured key (`Settings` says so).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from server.settings import MIN_SECRET_KEY_CHARS, Settings

log = logging.getLogger("labgrader.secret_key")

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


class SecretKeyUnusable(RuntimeError):
    """The key file exists but cannot be trusted (wrong mode, too short, unreadable)."""


def _read(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretKeyUnusable(f"{path} is readable by others (mode {mode:o}): run `chmod 600 {path}` and start "
                                "again")
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_CHARS:
        raise SecretKeyUnusable(f"{path} holds a key shorter than {MIN_SECRET_KEY_CHARS} characters: delete it to "
                                "have a new one generated (everyone logs in again)")
    return key


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        try:
            os.link(partial, path)  # fails if another process got there first: then its key is the key
        except FileExistsError:
            return _read(path)
    finally:
        partial.unlink(missing_ok=True)
    log.warning("no LABGRADER_SECRET_KEY configured: generated a random session key and kept it in %s (mode 0600); "
                "set LABGRADER_SECRET_KEY to choose your own", path)
    return key


def resolve_secret_key(settings: Settings) -> str:
    """The configured key, or the data dir's generated one (created on first use)."""
    if settings.secret_key:  # `Settings` already refused a weak one
        return settings.secret_key
    path = settings.data_dir.resolve() / SECRET_KEY_FILE
    if path.exists():
        return _read(path)
    return _create(path)
