"""The journal file and its one connection: opening, write transactions, SQLite errors.

Opening checks a damaged file read-only first and leaves it untouched, switches to WAL, sets
``synchronous=FULL`` (nothing acknowledged that is not on disk) and brings the schema up to
date. Every state change is one ``BEGIN IMMEDIATE`` transaction (``JournalDb.tx``), so a crash
leaves either the old state or the new one.

Errors: disk full, read-only, I/O errors and lock timeouts raise ``JournalUnavailable``; a
damaged file raises ``JournalCorrupt``. Nothing is swallowed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from receiptd.errors import JournalCorrupt, JournalUnavailable
from receiptd.journal import checkpoint
from receiptd.journal.diskguard import check_reserve, low_on_space
from receiptd.journal.migrations import latest_version, migrate, schema_version
from receiptd.journal.records import format_ts, utcnow

if TYPE_CHECKING:  # imported when a migration runs: the daemon's queries need only sqlite3
    from sqlite_utils import Database

# SQLite result codes (``sqlite3.Error.sqlite_errorname``) that mean "the disk cannot take it".
_UNAVAILABLE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_PERM", "SQLITE_NOMEM",
                "SQLITE_PROTOCOL", "SQLITE_NOLFS", "SQLITE_AUTH")
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")

# (st_dev, st_ino) of journal files that passed their quick_check in this process.
_VERIFIED: set[tuple[int, int]] = set()

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translate(exc: sqlite3.Error, where: str, *, running: bool = False) -> Exception | None:
    """The receiptd error for a SQLite error, or None when it is a bug (re-raise as is).

    ``running``: a method of a journal already open (and checked at opening). Damage read back
    then is what a failing disk looks like (pages lost or unreadable under a live
    connection), so it is the disk's error (503, retry; nothing accepted), not a damaged
    file's; a file that is really damaged is refused at the next start."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(_CORRUPT) and running:
        return JournalUnavailable(
            f"journal {where} read back damaged data while running: {exc} ({name}); the disk "
            "may be failing: check it with `receiptd journal-check`")
    if name.startswith(_CORRUPT):
        return JournalCorrupt(f"journal {where} is damaged: {exc} ({name})")
    if name.startswith(_UNAVAILABLE) or (
        isinstance(exc, sqlite3.OperationalError) and name not in ("", "SQLITE_ERROR")
    ):
        return JournalUnavailable(f"journal {where} cannot be used: {exc} ({name})")
    return None


#: The page size of a new journal. Every commit writes each page it touches whole, once to the
#: WAL and once more at the checkpoint, and a receipt's commits touch many pages (its rows,
#: their indexes, the counters) for a few bytes each. At SQLite's default 4 KiB a 1 KB till
#: receipt cost 169 KiB of writes over its life; at 1 KiB, 47 KiB, and a 250 KB raw receipt
#: 2.21x its size instead of 2.70x (``bench/journal_writes.py``). The price is a deeper
#: b-tree: submit and the order lookup on a 300,000-receipt journal stayed within the same
#: run's empty-journal figures (``bench/journal_scale.py``).
PAGE_SIZE = 1024


class SchemaConn:
    """A connection as the migrations use it (``migrations.Database``), without
    sqlite-utils."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None,
                ) -> sqlite3.Cursor:
        return self.conn.execute(sql, parameters if parameters is not None else ())

    def table_names(self) -> list[str]:
        return [str(r[0]) for r in
                self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def guarded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Map SQLite errors of a public method onto JournalUnavailable / JournalCorrupt; the
    message names the ``path`` of the method's object."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            owner = args[0] if args else None
            mapped = _translate(exc, str(getattr(owner, "path", "")), running=True)
            if mapped is None:
                raise
            raise mapped from exc

    return wrapper


class JournalDb:
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
        self.path = Path(path)
        self.reserve_bytes = reserve_bytes
        # autocheckpoint False: this connection's commits never copy the WAL into the file
        # themselves; they wake the file's checkpointer thread (``journal.checkpoint``).
        self._checkpoint_wake = None if autocheckpoint else checkpoint.require(self.path)
        self._clock = clock
        self._busy_ms = int(busy_timeout * 1000)
        self._conn: sqlite3.Connection | None = None
        self._check_on_main = False
        exists = self.path.exists()
        if not exists and not create:
            raise JournalUnavailable(f"journal {self.path} does not exist (create=False)")
        try:
            if check and exists and self.path.stat().st_size > 0:
                st = self.path.stat()
                if (st.st_dev, st.st_ino) not in _VERIFIED:
                    self._quick_check_readonly()
                    if not self._check_on_main:
                        _VERIFIED.add((st.st_dev, st.st_ino))
            conn = self._connect("rw" if exists else "rwc")
            self._conn = conn
            if exists and self._check_on_main:
                self._quick_check(conn)
            # Only a journal without pages takes it; an existing one keeps its own.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_size_limit=8388608")
            if self._checkpoint_wake is not None:
                conn.execute("PRAGMA wal_autocheckpoint=0")
            if schema_version(conn) != latest_version():
                migrate(SchemaConn(conn), applied_at=self.now(), where=str(self.path))
        except BaseException as exc:
            self._abandon()
            if isinstance(exc, sqlite3.Error):
                mapped = _translate(exc, str(self.path))
                if mapped is not None:
                    raise mapped from exc
            raise

    # -- opening ------------------------------------------------------------------------------

    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = f"{self.path.absolute().as_uri()}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                               timeout=self._busy_ms / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL (once per file). The switch needs an exclusive lock and SQLite does
        not run the busy handler for it when another opener holds a shared lock, so retry
        here for up to ``busy_timeout``."""
        deadline = time.monotonic() + self._busy_ms / 1000
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
                break
            except sqlite3.OperationalError as exc:
                name = str(getattr(exc, "sqlite_errorname", ""))
                if not name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                    raise
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
        if mode != "wal":
            raise JournalUnavailable(f"journal {self.path}: cannot enable WAL (got {mode})")

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        try:
            lines = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            mapped = _translate(exc, str(self.path))
            if isinstance(mapped, JournalUnavailable):
                raise mapped from exc
            raise JournalCorrupt(
                f"journal {self.path} is not a readable SQLite database ({exc}); it was left "
                "untouched: move it aside (or restore a backup) and restart"
            ) from exc
        if lines != ["ok"]:
            raise JournalCorrupt(
                f"journal {self.path} failed its integrity check: {'; '.join(lines[:5])}; it "
                "was left untouched: move it aside (or restore a backup) and restart"
            )

    def _quick_check_readonly(self) -> None:
        """Check before any write: a read-only connection cannot checkpoint or migrate."""
        try:
            conn = self._connect("ro")
        except sqlite3.Error as exc:
            mapped = _translate(exc, str(self.path))
            if mapped is None:
                raise
            raise mapped from exc
        sidecars = [Path(f"{self.path}{suffix}") for suffix in ("-wal", "-shm")]
        absent = [p for p in sidecars if not p.exists()]
        try:
            self._quick_check(conn)
        except JournalCorrupt:
            conn.close()
            for p in absent:  # created by this read-only look, empty: take them away again
                with contextlib.suppress(OSError):
                    if p.name.endswith("-shm") or p.stat().st_size == 0:
                        p.unlink()
            raise
        except JournalUnavailable as exc:
            cause = exc.__cause__
            name = getattr(cause, "sqlite_errorname", "")
            if not str(name).startswith("SQLITE_READONLY"):
                raise
            # A hot journal or WAL recovery needs a writer: it is not damage. Check again on
            # the read-write connection (recovery replays committed transactions only).
            self._check_on_main = True
        finally:
            conn.close()

    def _abandon(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError(f"journal {self.path} is closed")
        return self._conn

    @property
    def closed(self) -> bool:
        return self._conn is None

    @functools.cached_property
    def db(self) -> Database:
        """The connection wrapped by sqlite-utils (migrations, schema inspection), made on
        first use."""
        from sqlite_utils import Database

        return Database(self.conn, recursive_triggers=False, execute_plugins=False)

    def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        # No ANALYZE / PRAGMA optimize: the hot queries name their index, and statistics
        # were seen to flip other plans into full scans.
        conn.close()

    def now(self) -> str:
        return format_ts(self._clock())

    def admit(self) -> None:
        """Disk admission for new work (a receipt, a reprint): ``JournalUnavailable`` while the
        disk has less than ``reserve_bytes`` free, kept for prints already queued."""
        check_reserve(self.path, self.reserve_bytes)

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front, so a
        read-then-write never fails with a stale snapshot; COMMIT is fsynced (FULL)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the original error is raised
                    conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        if self._checkpoint_wake is not None:
            self._checkpoint_wake.set()
        if low_on_space(self.path, self.reserve_bytes):
            self._checkpoint_now()

    def _checkpoint_now(self) -> None:
        """Near the reserve, copy what the WAL holds into the database at once: pages still in
        the WAL need room in the database file when they are checkpointed, which an admission
        check on free space cannot see; checkpointed, the WAL is reused from its start, so the
        small state rows of the prints still queued fit in the reserve. PASSIVE: never waits
        for a reader, and a checkpoint that cannot finish now is done by a later commit."""
        with contextlib.suppress(sqlite3.Error):  # the commit stands; SQLite reports later
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None


class Store:
    """One concern of the journal, working through the thread's ``JournalDb``."""

    def __init__(self, db: JournalDb) -> None:
        self._db = db

    @property
    def path(self) -> Path:
        """The journal file (named in the errors ``guarded`` raises)."""
        return self._db.path
