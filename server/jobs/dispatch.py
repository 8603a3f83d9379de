"""How the API tells workers about new jobs: wake the embedded executor, or publish job ids to the broker.

The ledger row is committed first; a lost notification only delays a job (the executor polls, the Celery side has a
sweeper), it never loses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol

from fastapi import Depends, Request

from server.jobs.executor import EmbeddedExecutor
from server.jobs.models import JobQueue


class Dispatcher(Protocol):
    def submitted(self, job_ids: Sequence[int | None], queue: JobQueue = JobQueue.LIVE) -> None: ...

    def describe(self) -> str: ...


def get_dispatcher(request: Request) -> Dispatcher:
    """How this app tells workers about new jobs (set by `create_app`)."""
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]


class EmbeddedDispatcher:
    def __init__(self, executor: EmbeddedExecutor | None) -> None:
        self.executor = executor

    def submitted(self, job_ids: Sequence[int | None], queue: JobQueue = JobQueue.LIVE) -> None:
        if self.executor is not None:
            self.executor.wake()

    def describe(self) -> str:
        return "embedded" if self.executor is not None else "embedded (not running: student code cannot be run here)"
