"""Background purge of old printed receipts, in small batches, never of unprinted ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from receiptd.config import RetentionConfig
from receiptd.errors import JournalUnavailable
from receiptd.journal import Journal

log = structlog.get_logger("receiptd.retention")


class Retention:
    def __init__(self, journal_factory: Callable[[], Journal], config: RetentionConfig) -> None:
        self._journal_factory = journal_factory
        self.config = config
        self._stop = threading.Event()

    def run_once(self, journal: Journal) -> int:
        if not self.config.days and not self.config.max_bytes:
            return 0
        horizon = datetime.now(UTC) - timedelta(days=self.config.days or 36500)
        purged = journal.admin.purge(older_than=horizon, max_bytes=self.config.max_bytes or None)
        if purged:
            log.info("journal_purged", receipts=purged)
        return purged

    def run(self) -> None:
        journal = self._journal_factory()
        while not self._stop.wait(self.config.interval_s):
            try:
                self.run_once(journal)
            except JournalUnavailable as exc:
                log.warning("purge_failed", error=str(exc))
            except Exception:  # a damaged row must not end the purges for good
                log.exception("purge_error")

    def stop(self) -> None:
        self._stop.set()
