"""Logging in to the pages over plain HTTP (httpx), as a browser would: login CSRF cookie, then the session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.conftest import LiveServer

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found is not None, html[:500]
    return found.group(1)


@contextmanager
def logged_in(server: LiveServer, token: str) -> Iterator[tuple[httpx.Client, str]]:
    """A client holding a session cookie, and the session's CSRF token for forms."""
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=60) as client:
        login = client.get("/login")
        response = client.post("/login", data={"token": token, "csrf_token": csrf_of(login.text), "next": ""})
        assert response.status_code == 303, response.text
        yield client, csrf_of(client.get("/me").text)
