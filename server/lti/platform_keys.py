"""The platforms' public key sets, fetched over HTTP(S) and cached; an unknown `kid` refetches (a rotated key)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import jwt

from server.errors import Forbidden

CACHE_S = 300.0
REFETCH_AFTER_S = 10.0  # an unknown kid refetches at most this often (a forged kid must not hammer the platform)
MAX_KEYSET_BYTES = 256 * 1024
FETCH_TIMEOUT_S = 5.0


class KeySetUnavailable(Forbidden):
    pass


class PlatformKeys:
    """Thread-safe cache: key set URL -> (fetched at, {kid: key})."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._transport = transport

    def _fetch(self, url: str) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=FETCH_TIMEOUT_S, transport=self._transport, follow_redirects=False) as client:
                response = client.get(url)
            response.raise_for_status()
            if len(response.content) > MAX_KEYSET_BYTES:
                raise KeySetUnavailable(f"the platform's key set at {url} is larger than {MAX_KEYSET_BYTES} bytes")
            keyset = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise KeySetUnavailable(f"the platform's key set at {url} could not be read ({type(exc).__name__}): "
                                    "check the registration's --keyset-url") from exc
        return {k.key_id: k.key for k in keyset.keys if k.key_id}

    def key_for(self, url: str, kid: str) -> Any:
        """The public key `kid` of the key set at `url`."""
        now = time.monotonic()
        with self._lock:
            fetched_at, keys = self._cache.get(url, (-1e9, {}))
            stale = now - fetched_at > CACHE_S
            if stale or (kid not in keys and now - fetched_at > REFETCH_AFTER_S):
                keys = self._fetch(url)
                self._cache[url] = (now, keys)
        if kid not in keys:
            raise KeySetUnavailable(f"the launch's id_token names key {kid!r}, which is not in the platform's key set")
        return keys[kid]
