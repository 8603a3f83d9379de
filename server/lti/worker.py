"""The thread of `serve` that keeps the LMS in step: every `LABGRADER_LTI_PASSBACK_INTERVAL_S` it syncs the rosters
that are due (`roster`), reconciles the ledger with the counted scores and sends what is due (`passback`)."""

from __future__ import annotations

import logging
import threading

from server.db import SessionFactory, transaction
from server.lti.passback import AgsClient, reconcile, send_due
from server.lti.roster import sync_due

log = logging.getLogger("labgrader.lti")


class PassbackWorker:
    """A thread of `serve` that, every `interval_s`, syncs the rosters that are due, reconciles and sends."""

    def __init__(self, factory: SessionFactory, client: AgsClient, interval_s: float, backoff_s: float,
                 roster_every_s: float) -> None:
        self.factory, self.client, self.interval_s, self.backoff_s = factory, client, interval_s, backoff_s
        self.roster_every_s = roster_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lti-passback", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self) -> None:
        with self.factory() as session:
            sync_due(session, self.client, self.roster_every_s)
        with transaction(self.factory) as session:
            reconcile(session)
        with self.factory() as session:
            send_due(session, self.client, self.backoff_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # the next round tries again; the ledger keeps every pending score
                log.exception("grade passback round failed")
