"""The tool's signing keys: RSA keys kept in `DATA_DIR/lti/keys` (mode 0600), published as a JWKS.

Platforms verify what the tool signs (deep-linking responses, the client assertions of grade and roster calls) with
the JWKS they fetch from `/lti/jwks.json` and cache. Rotation makes a new key the signing one and keeps the old one
published for `keep_old_h` hours, so a platform's cached copy and tokens signed just before stay verifiable.
`index.json` says which key signs and until when each retired one is published.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_BITS = 2048
DEFAULT_KEEP_OLD_H = 72.0


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_pem: bytes
    retired_at: float | None = None  # unix time; None: the signing key
    published_until: float | None = None

    def public_jwk(self) -> dict[str, Any]:
        private = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
        return {"kty": "RSA", "n": public["n"], "e": public["e"], "kid": self.kid, "alg": "RS256", "use": "sig"}


class ToolKeys:
    """The key set in one folder; every write leaves files readable by the service's user only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> ToolKeys:
        return cls(data_dir.resolve() / "lti" / "keys")

    def _index(self) -> list[dict[str, Any]]:
        path = self.folder / "index.json"
        if not path.exists():
            return []
        entries: list[dict[str, Any]] = json.loads(path.read_text())["keys"]
        return entries

    def _write_private(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o600)

    def _save_index(self, entries: list[dict[str, Any]]) -> None:
        tmp = self.folder / "index.json.tmp"
        self._write_private(tmp, json.dumps({"keys": entries}, indent=1).encode())
        tmp.replace(self.folder / "index.json")

    def _new_entry(self) -> dict[str, Any]:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        kid = json.loads(RSAAlgorithm.to_jwk(private.public_key()))["n"][:16] + f"-{int(time.time())}"
        self._write_private(self.folder / f"{kid}.pem", pem)
        return {"kid": kid, "created_at": time.time(), "retired_at": None, "published_until": None}

    def ensure(self) -> None:
        """Create the folder (0700) and a first key when there is none."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if not any(e["retired_at"] is None for e in self._index()):
            self._save_index([*self._index(), self._new_entry()])

    def rotate(self, keep_old_h: float = DEFAULT_KEEP_OLD_H, now_s: float | None = None) -> ToolKey:
        """A new signing key; the previous one stays published for `keep_old_h` hours; expired ones are deleted."""
        self.ensure()
        now = now_s if now_s is not None else time.time()
        entries = []
        for entry in self._index():
            if entry["retired_at"] is None:
                entry = {**entry, "retired_at": now, "published_until": now + keep_old_h * 3600}
            entries.append(entry)
        entries.append(self._new_entry())
        self._save_index(self._prune(entries, now))
        return self.signing_key()

    def _prune(self, entries: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        kept = []
        for entry in entries:
            if entry["published_until"] is not None and entry["published_until"] <= now:
                (self.folder / f"{entry['kid']}.pem").unlink(missing_ok=True)
            else:
                kept.append(entry)
        return kept

    def _load(self, entry: dict[str, Any]) -> ToolKey:
        return ToolKey(kid=entry["kid"], private_pem=(self.folder / f"{entry['kid']}.pem").read_bytes(),
                       retired_at=entry["retired_at"], published_until=entry["published_until"])

    def signing_key(self) -> ToolKey:
        self.ensure()
        current = [e for e in self._index() if e["retired_at"] is None]
        return self._load(current[-1])

    def published(self, now_s: float | None = None) -> list[ToolKey]:
        """The signing key and every retired key still inside its publication window."""
        self.ensure()
        now = now_s if now_s is not None else time.time()
        return [self._load(e) for e in self._index() if e["published_until"] is None or e["published_until"] > now]

    def jwks(self, now_s: float | None = None) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.published(now_s)]}
