"""Background purge of old printed receipts, in small batches, never of unprinted ones.

A purge deletes pages, and every page it frees goes through the write-ahead log. The WAL
is copied into the journal file (checkpointed) only up to what the oldest open read
transaction can see, so while a long reader is open (the full integrity check after a start
reads a table of millions of receipts in one transaction, for most of an hour on a journal
larger than RAM) nothing the purge writes leaves the WAL. A purge of two million receipts
then grew the WAL to 7 GB. So the purge asks before each batch how far the WAL is behind
(``backlog``: its frames not copied yet) and, past ``MAX_BACKLOG_FRAMES``, leaves the rest
to its next pass: a bounded journal stays bounded on disk, WAL included.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from receiptd.config import RetentionConfig
from receiptd.errors import JournalUnavailable
from receiptd.journal import Journal
from receiptd.journal.checkpoint import WAL_PAGES

log = structlog.get_logger("receiptd.retention")

#: WAL frames not yet copied into the file past which a purge stops until its next pass:
#: sixteen times the checkpointer's own threshold (16 MiB with 1 KiB pages).
MAX_BACKLOG_FRAMES = 16 * WAL_PAGES


class Retention:
    def __init__(self, journal_factory: Callable[[], Journal], config: RetentionConfig, *,
                 backlog: Callable[[], int | None] | None = None) -> None:
        self._journal_factory = journal_factory
        self.config = config
        self._backlog = backlog
        self._stop = threading.Event()

    def run_once(self, journal: Journal) -> int:
        if not self.config.days and not self.config.max_bytes:
            return 0
        horizon = datetime.now(UTC) - timedelta(days=self.config.days or 36500)
        purged = journal.admin.purge(older_than=horizon, max_bytes=self.config.max_bytes or None,
                                     pause=self._pause)
        if purged:
            log.info("journal_purged", receipts=purged)
        return purged

    def _pause(self) -> bool:
        """Whether the purge stops before its next batch: the daemon is stopping, or the WAL
        is too far behind (see the module)."""
        frames = self._backlog() if self._backlog is not None else None
        if frames is None or frames <= MAX_BACKLOG_FRAMES:
            return self._stop.is_set()
        log.info("journal_purge_paused", wal_frames=frames, limit=MAX_BACKLOG_FRAMES,
                 hint="a long read (the integrity check, a backup) holds the WAL back; the "
                      "purge goes on at its next pass")
        return True

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
