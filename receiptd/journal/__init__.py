"""The journal: every receipt and every attempt to print it, in one SQLite file.

Guarantees (see docs/DESIGN.md): a method that returns has committed its change with
``synchronous=FULL`` (nothing acknowledged that is not on disk); each state change is one
``BEGIN IMMEDIATE`` transaction, so a crash leaves either the old state or the new one.

Threads: every thread opens its own ``Journal(path)``; connections are never shared
(``check_same_thread`` stays on). Writers are serialised by SQLite (WAL, ``busy_timeout``);
readers never block writers.

A ``Journal`` is that one connection (``db.py``) and one object per concern, all on it:
``journal.receipts`` (the state machine, ``receipts.py``), ``journal.search`` (queries, queue
and counters, ``search.py``), ``journal.events`` (printer events, ``events.py``),
``journal.tokens`` (API tokens, ``tokens.py``) and ``journal.admin`` (purge, stats, check,
backup, ``maintenance.py``).

Errors: disk full, read-only, I/O errors and lock timeouts raise ``JournalUnavailable``; a
damaged file raises ``JournalCorrupt`` (at open it is checked read-only first and left
untouched). Nothing is swallowed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from receiptd.journal.db import JournalDb
from receiptd.journal.events import EventStore
from receiptd.journal.maintenance import MaintenanceStore
from receiptd.journal.receipts import ReceiptStore
from receiptd.journal.records import (
    MAX_EVENTS_PAGE,
    MAX_PAGE,
    ApiToken,
    Print,
    PrinterEvent,
    QueueStats,
    Receipt,
    format_ts,
    parse_ts,
    utcnow,
)
from receiptd.journal.search import SearchStore
from receiptd.journal.tokens import TokenStore

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = [
    "MAX_EVENTS_PAGE",
    "MAX_PAGE",
    "ApiToken",
    "Journal",
    "Print",
    "PrinterEvent",
    "QueueStats",
    "Receipt",
    "format_ts",
    "parse_ts",
    "utcnow",
]


class Journal:
    """One connection to the journal file, for the thread that opened it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        check: bool = True,
        reserve_bytes: int = 0,
        autocheckpoint: bool = True,
    ) -> None:
        """Open (creating and migrating as needed) the journal at ``path``.

        ``reserve_bytes``: ``receipts.submit`` and ``receipts.add_reprint`` refuse new work
        (``JournalUnavailable``) while the disk has less free space, kept for prints already
        queued (``diskguard``).

        ``autocheckpoint``: False in the daemon, whose ``journal.checkpoint.Checkpointer``
        copies the WAL into the file so that no commit does (one must run for ``path``).

        ``check``: run ``PRAGMA quick_check`` first, read-only, unless this process already
        verified this very file (same device and inode): the daemon's first open pays for it
        (seconds at a million receipts), each thread's own ``Journal`` after that does not.
        """
        self._db = JournalDb(path, create=create, busy_timeout=busy_timeout, clock=clock,
                             check=check, reserve_bytes=reserve_bytes,
                             autocheckpoint=autocheckpoint)
        self.receipts = ReceiptStore(self._db)
        self.search = SearchStore(self._db)
        self.events = EventStore(self._db)
        self.tokens = TokenStore(self._db)
        self.admin = MaintenanceStore(self._db)

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def reserve_bytes(self) -> int:
        return self._db.reserve_bytes

    @reserve_bytes.setter
    def reserve_bytes(self, value: int) -> None:
        self._db.reserve_bytes = value

    @property
    def conn(self) -> sqlite3.Connection:
        """The thread's SQLite connection (``ProgrammingError`` once closed)."""
        return self._db.conn

    @property
    def db(self) -> Database:
        """The same connection wrapped by sqlite-utils (migrations, schema inspection)."""
        return self._db.db

    @property
    def closed(self) -> bool:
        """Closed (a worker that is started again needs a new connection)."""
        return self._db.closed

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
