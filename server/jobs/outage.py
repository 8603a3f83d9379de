"""Waiting out a database outage (a restart, a network blip): the one retry loop of the job lifecycle.

A lost or refused connection is retried with a doubling pause (0.5 s up to 5 s) until `wait_s` has passed; any other
database error, or an outage longer than that, is raised. The runner's ledger writes wait two leases (after that the
lease has expired anyway and the reaper hands the job on); a Celery task waits `DB_OUTAGE_WAIT_S` before it gives its
message up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("labgrader.worker")
T = TypeVar("T")
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 5.0


def database_unreachable(exc: DBAPIError) -> bool:
    """A lost or refused connection (a restart, a network blip), as opposed to a bug in a query."""
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


class OutageBackoff:
    """The pauses between tries while the database does not answer, up to `wait_s` in all."""

    def __init__(self, wait_s: float) -> None:
        self.deadline = time.monotonic() + wait_s
        self.pause_s = FIRST_PAUSE_S

    def pause_after(self, exc: DBAPIError) -> float:
        """Seconds to wait before the next try; raises `exc` when it is no outage or the wait is over."""
        if not database_unreachable(exc) or time.monotonic() > self.deadline:
            raise exc
        pause_s, self.pause_s = self.pause_s, min(self.pause_s * 2, LONGEST_PAUSE_S)
        log.warning("the database did not answer (%s); retrying in %.1f s", type(exc).__name__, pause_s)
        return pause_s


def retry_during_outage(call: Callable[[], T], wait_s: float) -> T:
    """`call()`, tried again while the database is unreachable (blocks the thread while it waits)."""
    backoff = OutageBackoff(wait_s)
    while True:
        try:
            return call()
        except DBAPIError as exc:
            time.sleep(backoff.pause_after(exc))


async def retry_during_outage_async(call: Callable[[], T], wait_s: float) -> T:
    """`call()` in a thread, tried again while the database is unreachable (the event loop keeps running)."""
    backoff = OutageBackoff(wait_s)
    while True:
        try:
            return await asyncio.to_thread(call)
        except DBAPIError as exc:
            await asyncio.sleep(backoff.pause_after(exc))
