"""The journal: every receipt and every attempt to print it, in one SQLite file.

Guarantees (see DESIGN.md): a method that returns has committed its change with
``synchronous=FULL`` (nothing acknowledged that is not on disk); each state change is one
``BEGIN IMMEDIATE`` transaction, so a crash leaves either the old state or the new one.

Threads: every thread opens its own ``Journal(path)``; connections are never shared
(``check_same_thread`` stays on). Writers are serialised by SQLite (WAL, ``busy_timeout``);
readers never block writers.

Print states: ``queued → sending → printed``; ``sending → queued`` (unstart: nothing was sent);
``sending → interrupted`` (a new ``interrupted_retry`` print is queued in the same transaction);
``queued → cancelled``. Receipt states follow the receipt's original delivery: ``queued →
printing → printed``, ``printing → queued`` (interrupted), ``queued → cancelled``; later
reprints never change a printed receipt.

Queue order: ``next_print()`` returns a printer's queued interrupted retries first (oldest
first), then everything else strictly by id (FIFO). A merchant whose receipt was cut short by a
paper-out expects that receipt to come out first once the paper is refilled, not after the
receipts queued behind it.

Timestamps are stored as TEXT, ISO-8601 UTC with milliseconds (``2024-05-01T12:34:56.789Z``):
they sort as text, read well in ``sqlite3``, and ``format_ts``/``parse_ts`` convert them.
The dataclasses carry aware ``datetime`` objects.

Errors: disk full, read-only, I/O errors and lock timeouts raise ``JournalUnavailable``; a
damaged file raises ``JournalCorrupt`` (at open it is checked read-only first and left
untouched). Nothing is swallowed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlite_utils import Database

from receiptd.errors import Conflict, JournalCorrupt, JournalUnavailable, NotFound
from receiptd.journal import migrations
from receiptd.journal.diskguard import check_reserve

__all__ = [
    "MAX_PAGE",
    "Journal",
    "Print",
    "PrinterEvent",
    "QueueStats",
    "Receipt",
    "format_ts",
    "parse_ts",
    "utcnow",
]

RECEIPT_STATES = ("queued", "printing", "printed", "cancelled")
RECEIPT_KINDS = ("document", "text", "raw")
PRINT_KINDS = ("original", "interrupted_retry", "reprint")
PRINT_STATES = ("queued", "sending", "printed", "interrupted", "cancelled")
CONFIRMATIONS = ("process_id", "status")

#: Upper bound of ``limit`` in ``find_receipts``.
MAX_PAGE = 500
MAX_EVENTS_PAGE = 1000

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"

# SQLite result codes (``sqlite3.Error.sqlite_errorname``) that mean "the disk cannot take it".
_UNAVAILABLE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_PERM", "SQLITE_NOMEM",
                "SQLITE_PROTOCOL", "SQLITE_NOLFS", "SQLITE_AUTH")
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


# -- time -------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime) -> str:
    """Aware datetime → ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds, truncated)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: journal timestamps must be timezone-aware")
    utc = value.astimezone(UTC)
    return f"{utc.strftime(_TS_FORMAT)}.{utc.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Inverse of ``format_ts``; returns an aware UTC datetime."""
    return datetime.strptime(value, _TS_FORMAT + ".%fZ").replace(tzinfo=UTC)


def _opt_ts(value: str | None) -> datetime | None:
    return None if value is None else parse_ts(value)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Print:
    """One attempt to put a receipt on paper."""

    id: int
    receipt_id: int
    printer: str
    kind: str  # original | interrupted_retry | reprint
    state: str  # queued | sending | printed | interrupted | cancelled
    attempt: int  # 1 for a first attempt, +1 per interrupted retry
    copy_number: int | None  # 1, 2, … for a cashier's copy (kept by its retries)
    retry_of: int | None  # the interrupted print this one repeats
    marker: str | None
    requested_by: str | None
    reason: str | None
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    confirmation: str | None  # process_id | status | None

    @property
    def is_copy(self) -> bool:
        return self.copy_number is not None

    @property
    def needs_marker(self) -> bool:
        """Everything but a first original attempt must carry a visible marker line."""
        return self.kind != "original"


@dataclass(frozen=True)
class Receipt:
    id: int
    printer: str
    state: str  # queued | printing | printed | cancelled
    kind: str  # document | text | raw
    content: str  # JSON of the submitted content: {"document": …} / {"text": …} / {"raw": …}
    rendered: bytes  # the original render, sent as-is for the first original attempt
    profile: str
    request_hash: str
    idempotency_key: str | None
    order_ref: str | None
    submitted_by: str | None
    created_at: datetime
    printed_at: datetime | None
    paper_mm: float | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    prints: tuple[Print, ...]

    @property
    def copies(self) -> int:
        """Number of cashier's copies that made it onto paper."""
        return len({p.copy_number for p in self.prints
                    if p.copy_number is not None and p.state == "printed"})


@dataclass(frozen=True)
class PrinterEvent:
    id: int
    printer: str
    at: datetime
    state: str
    previous: str | None
    cause: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class QueueStats:
    depth: int  # queued prints
    oldest_queued_at: datetime | None
    in_doubt: int  # prints in ``sending``


def _print_from(row: sqlite3.Row) -> Print:
    return Print(
        id=row["id"],
        receipt_id=row["receipt_id"],
        printer=row["printer"],
        kind=row["kind"],
        state=row["state"],
        attempt=row["attempt"],
        copy_number=row["copy_number"],
        retry_of=row["retry_of"],
        marker=row["marker"],
        requested_by=row["requested_by"],
        reason=row["reason"],
        created_at=parse_ts(row["created_at"]),
        sent_at=_opt_ts(row["sent_at"]),
        finished_at=_opt_ts(row["finished_at"]),
        outcome=row["outcome"],
        confirmation=row["confirmation"],
    )


def _receipt_from(row: sqlite3.Row, prints: Sequence[Print]) -> Receipt:
    return Receipt(
        id=row["id"],
        printer=row["printer"],
        state=row["state"],
        kind=row["kind"],
        content=row["content"],
        rendered=bytes(row["rendered"]),
        profile=row["profile"],
        request_hash=row["request_hash"],
        idempotency_key=row["idempotency_key"],
        order_ref=row["order_ref"],
        submitted_by=row["submitted_by"],
        created_at=parse_ts(row["created_at"]),
        printed_at=_opt_ts(row["printed_at"]),
        paper_mm=row["paper_mm"],
        cancelled_at=_opt_ts(row["cancelled_at"]),
        cancelled_by=row["cancelled_by"],
        prints=tuple(prints),
    )


def _event_from(row: sqlite3.Row) -> PrinterEvent:
    return PrinterEvent(
        id=row["id"],
        printer=row["printer"],
        at=parse_ts(row["at"]),
        state=row["state"],
        previous=row["previous"],
        cause=row["cause"],
        detail=json.loads(row["detail"]),
    )


# -- errors -----------------------------------------------------------------------------------


def _translate(exc: sqlite3.Error, where: str) -> Exception | None:
    """The receiptd error for a SQLite error, or None when it is a bug (re-raise as is)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(_CORRUPT):
        return JournalCorrupt(f"journal {where} is damaged: {exc} ({name})")
    if name.startswith(_UNAVAILABLE) or (
        isinstance(exc, sqlite3.OperationalError) and name not in ("", "SQLITE_ERROR")
    ):
        return JournalUnavailable(f"journal {where} cannot be used: {exc} ({name})")
    return None


# (st_dev, st_ino) of journal files that passed their quick_check in this process.
_VERIFIED: set[tuple[int, int]] = set()

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Map SQLite errors of a public method onto JournalUnavailable / JournalCorrupt."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            journal = args[0] if args else None
            mapped = _translate(exc, str(getattr(journal, "path", "")))
            if mapped is None:
                raise
            raise mapped from exc

    return wrapper


# -- the journal ------------------------------------------------------------------------------


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
    ) -> None:
        """Open (creating and migrating as needed) the journal at ``path``.

        ``reserve_bytes``: ``submit`` and ``add_reprint`` refuse new work (``JournalUnavailable``)
        while the disk has less free space, kept for prints already queued (``diskguard``).

        ``check``: run ``PRAGMA quick_check`` first, read-only, unless this process already
        verified this very file (same device and inode): the daemon's first open pays for it
        (seconds at a million receipts), each thread's own ``Journal`` after that does not.
        """
        self.path = Path(path)
        self.reserve_bytes = reserve_bytes
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
            self.db = Database(conn, recursive_triggers=False, execute_plugins=False)
            if exists and self._check_on_main:
                self._quick_check(conn)
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_size_limit=8388608")
            migrations.migrate(self.db, applied_at=self._now(), where=str(self.path))
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

    def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        # No ANALYZE / PRAGMA optimize: the hot queries name their index, and statistics
        # were seen to flip other plans into full scans.
        conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return format_ts(self._clock())

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
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

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def _row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _print_row(self, print_id: int) -> sqlite3.Row:
        row = self._row("SELECT * FROM prints WHERE id = ?", (print_id,))
        if row is None:
            raise NotFound(f"print {print_id} not found")
        return row

    def _receipt_row(self, receipt_id: int) -> sqlite3.Row:
        row = self._row("SELECT * FROM receipts WHERE id = ?", (receipt_id,))
        if row is None:
            raise NotFound(f"receipt {receipt_id} not found")
        return row

    def _load_print(self, print_id: int) -> Print:
        return _print_from(self._print_row(print_id))

    def _load_receipt(self, receipt_id: int) -> Receipt:
        row = self._receipt_row(receipt_id)
        return _receipt_from(row, self._prints_of([receipt_id]).get(receipt_id, ()))

    def _prints_of(self, receipt_ids: Sequence[int]) -> dict[int, list[Print]]:
        out: dict[int, list[Print]] = {}
        if not receipt_ids:
            return out
        marks = ",".join("?" * len(receipt_ids))
        for row in self._rows(
            f"SELECT * FROM prints WHERE receipt_id IN ({marks}) ORDER BY receipt_id, id",
            list(receipt_ids),
        ):
            out.setdefault(row["receipt_id"], []).append(_print_from(row))
        return out

    def _receipts(self, rows: Sequence[sqlite3.Row]) -> list[Receipt]:
        prints = self._prints_of([r["id"] for r in rows])
        return [_receipt_from(r, prints.get(r["id"], ())) for r in rows]

    def _count(self, conn: sqlite3.Connection, printer: str, name: str, by: float) -> None:
        conn.execute(
            """
            INSERT INTO printer_counters (printer, name, value) VALUES (?, ?, ?)
            ON CONFLICT (printer, name) DO UPDATE SET value = value + excluded.value
            """,
            (printer, name, by),
        )

    def _insert_print(
        self,
        conn: sqlite3.Connection,
        *,
        receipt_id: int,
        printer: str,
        kind: str,
        attempt: int,
        created_at: str,
        copy_number: int | None = None,
        retry_of: int | None = None,
        marker: str | None = None,
        requested_by: str | None = None,
        reason: str | None = None,
    ) -> int:
        cur = conn.execute(
            """
            INSERT INTO prints (receipt_id, printer, kind, state, attempt, copy_number,
                                retry_of, marker, requested_by, reason, created_at)
            VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)
            """,
            (receipt_id, printer, kind, attempt, copy_number, retry_of, marker, requested_by,
             reason, created_at),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    # -- submission ---------------------------------------------------------------------------

    @_guarded
    def submit(
        self,
        *,
        printer: str,
        kind: str,
        content_json: str,
        rendered: bytes,
        profile: str,
        request_hash: str,
        idempotency_key: str | None,
        order_ref: str | None,
        submitted_by: str | None,
        paper_mm: float | None = None,
    ) -> tuple[Receipt, bool]:
        """Journal a receipt and its first print. Returns (receipt, created).

        A known ``idempotency_key`` with the same ``request_hash`` returns the existing
        receipt and inserts nothing; with another hash it is a ``Conflict``.
        """
        if kind not in RECEIPT_KINDS:
            raise ValueError(f"unknown receipt kind {kind!r}")
        with self._tx() as conn:
            if idempotency_key is not None:
                existing = self._row(
                    "SELECT id, request_hash FROM receipts WHERE idempotency_key = ?",
                    (idempotency_key,),
                )
                if existing is not None:
                    if existing["request_hash"] != request_hash:
                        raise Conflict(
                            f"idempotency key {idempotency_key!r} was already used for a "
                            f"different request (receipt {existing['id']})",
                            code="idempotency_conflict",
                        )
                    return self._load_receipt(existing["id"]), False
            check_reserve(self.path, self.reserve_bytes)  # a replay above needs no space
            now = self._now()
            cur = conn.execute(
                """
                INSERT INTO receipts (printer, state, kind, content, rendered, profile,
                                      request_hash, idempotency_key, order_ref, submitted_by,
                                      created_at, paper_mm)
                VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (printer, kind, content_json, sqlite3.Binary(rendered), profile, request_hash,
                 idempotency_key, order_ref, submitted_by, now, paper_mm),
            )
            assert cur.lastrowid is not None
            receipt_id = cur.lastrowid
            self._insert_print(conn, receipt_id=receipt_id, printer=printer, kind="original",
                               attempt=1, created_at=now)
            self._count(conn, printer, "submitted", 1)
            return self._load_receipt(receipt_id), True

    # -- the spooler's transitions ------------------------------------------------------------

    @_guarded
    def next_print(self, printer: str) -> Print | None:
        """The print to send next: queued interrupted retries first, then FIFO by id."""
        row = self._row(
            """
            SELECT * FROM prints WHERE printer = ? AND state = 'queued'
            ORDER BY (kind != 'interrupted_retry'), id LIMIT 1
            """,
            (printer,),
        )
        return None if row is None else _print_from(row)

    @_guarded
    def start_print(self, print_id: int) -> Print:
        """``queued → sending``: call just before the first byte goes out."""
        with self._tx() as conn:
            p = self._print_row(print_id)
            if p["state"] != "queued":
                raise Conflict(f"print {print_id} is {p['state']}, not queued",
                               code="not_queued")
            conn.execute("UPDATE prints SET state = 'sending', sent_at = ? WHERE id = ?",
                         (self._now(), print_id))
            conn.execute(
                "UPDATE receipts SET state = 'printing' WHERE id = ? AND state = 'queued'",
                (p["receipt_id"],),
            )
            return self._load_print(print_id)

    def _sending(self, print_id: int) -> sqlite3.Row:
        p = self._print_row(print_id)
        if p["state"] != "sending":
            raise Conflict(f"print {print_id} is {p['state']}, not sending", code="not_sending")
        return p

    @_guarded
    def unstart_print(self, print_id: int, reason: str) -> Print:
        """``sending → queued`` when provably nothing was sent (link failed before byte one)."""
        with self._tx() as conn:
            p = self._sending(print_id)
            conn.execute(
                "UPDATE prints SET state = 'queued', sent_at = NULL, outcome = ? WHERE id = ?",
                (f"not started: {reason}", print_id),
            )
            conn.execute(
                "UPDATE receipts SET state = 'queued' WHERE id = ? AND state = 'printing'",
                (p["receipt_id"],),
            )
            return self._load_print(print_id)

    @_guarded
    def finish_print(self, print_id: int, *, confirmation: str) -> Print:
        """``sending → printed``, once the printer confirmed it (process ID or clean status)."""
        if confirmation not in CONFIRMATIONS:
            raise ValueError(f"unknown confirmation {confirmation!r}")
        with self._tx() as conn:
            p = self._sending(print_id)
            now = self._now()
            conn.execute(
                """
                UPDATE prints SET state = 'printed', finished_at = ?, outcome = ?,
                                  confirmation = ?
                WHERE id = ?
                """,
                (now, f"confirmed by {confirmation.replace('_', ' ')}", confirmation, print_id),
            )
            r = self._receipt_row(p["receipt_id"])
            if r["state"] != "printed":
                conn.execute(
                    """
                    UPDATE receipts SET state = 'printed', printed_at = coalesce(printed_at, ?)
                    WHERE id = ?
                    """,
                    (now, p["receipt_id"]),
                )
                self._count(conn, p["printer"], "printed_originals", 1)
            else:
                self._count(conn, p["printer"], "copies_printed", 1)
            if r["paper_mm"] is not None:
                self._count(conn, p["printer"], "paper_mm", float(r["paper_mm"]))
            return self._load_print(print_id)

    def _interrupt(self, conn: sqlite3.Connection, p: sqlite3.Row, reason: str,
                   marker: str | None) -> int:
        now = self._now()
        conn.execute(
            "UPDATE prints SET state = 'interrupted', finished_at = ?, outcome = ? WHERE id = ?",
            (now, reason, p["id"]),
        )
        retry_id = self._insert_print(
            conn, receipt_id=p["receipt_id"], printer=p["printer"], kind="interrupted_retry",
            attempt=p["attempt"] + 1, created_at=now, copy_number=p["copy_number"],
            retry_of=p["id"], marker=marker, requested_by=p["requested_by"], reason=reason,
        )
        conn.execute(
            "UPDATE receipts SET state = 'queued' WHERE id = ? AND state = 'printing'",
            (p["receipt_id"],),
        )
        self._count(conn, p["printer"], "interrupted_retries", 1)
        return retry_id

    @_guarded
    def interrupt_print(self, print_id: int, *, reason: str, marker: str | None = None) -> Print:
        """``sending → interrupted`` and queue its marked retry, atomically; returns the retry.

        The retry keeps ``copy_number`` (an interrupted copy stays a marked copy) and is
        taken before the printer's other queued prints (see module docstring)."""
        with self._tx() as conn:
            p = self._sending(print_id)
            retry_id = self._interrupt(conn, p, reason, marker)
            return self._load_print(retry_id)

    @_guarded
    def recover_in_doubt(self) -> list[Print]:
        """At daemon start: every print still ``sending`` died with the daemon between its
        first byte and its confirmation. Interrupt each (reason ``daemon restart``) and
        return the queued retries."""
        with self._tx() as conn:
            rows = self._rows("SELECT * FROM prints WHERE state = 'sending' ORDER BY id")
            retry_ids = [self._interrupt(conn, p, "daemon restart", None) for p in rows]
            return [self._load_print(i) for i in retry_ids]

    # -- the cashier and the admin ------------------------------------------------------------

    @_guarded
    def add_reprint(
        self,
        receipt_id: int,
        *,
        requested_by: str | None,
        reason: str | None,
        marker: str | None = None,
    ) -> Print:
        """Queue a cashier's copy of a printed receipt (``copy_number`` = copies asked + 1)."""
        with self._tx() as conn:
            check_reserve(self.path, self.reserve_bytes)
            r = self._receipt_row(receipt_id)
            if r["state"] != "printed":
                raise Conflict(
                    f"receipt {receipt_id} is {r['state']}: only a printed receipt can be "
                    "reprinted",
                    code="not_printed",
                )
            n = self._row(
                "SELECT count(*) AS n FROM prints WHERE receipt_id = ? AND kind = 'reprint'",
                (receipt_id,),
            )
            copy_number = (n["n"] if n is not None else 0) + 1
            print_id = self._insert_print(
                conn, receipt_id=receipt_id, printer=r["printer"], kind="reprint", attempt=1,
                created_at=self._now(), copy_number=copy_number, marker=marker,
                requested_by=requested_by, reason=reason,
            )
            self._count(conn, r["printer"], "reprints_requested", 1)
            return self._load_print(print_id)

    @_guarded
    def cancel(self, receipt_id: int, *, by: str | None) -> Receipt:
        """Cancel a receipt of which nothing was ever sent; idempotent on a cancelled one."""
        with self._tx() as conn:
            r = self._receipt_row(receipt_id)
            if r["state"] == "cancelled":
                return self._load_receipt(receipt_id)
            sent = self._row(
                """
                SELECT id, state FROM prints WHERE receipt_id = ? AND sent_at IS NOT NULL
                ORDER BY id LIMIT 1
                """,
                (receipt_id,),
            )
            if sent is not None:
                raise Conflict(
                    f"receipt {receipt_id} cannot be cancelled: print {sent['id']} was already "
                    f"sent ({sent['state']})",
                    code="already_sent",
                )
            now = self._now()
            conn.execute(
                """
                UPDATE prints SET state = 'cancelled', finished_at = ?, outcome = ?
                WHERE receipt_id = ? AND state = 'queued'
                """,
                (now, f"cancelled by {by or 'unknown'}", receipt_id),
            )
            conn.execute(
                """
                UPDATE receipts SET state = 'cancelled', cancelled_at = ?, cancelled_by = ?
                WHERE id = ?
                """,
                (now, by, receipt_id),
            )
            self._count(conn, r["printer"], "cancelled", 1)
            return self._load_receipt(receipt_id)

    # -- queries ------------------------------------------------------------------------------

    @_guarded
    def get_receipt(self, receipt_id: int) -> Receipt:
        return self._load_receipt(receipt_id)

    @_guarded
    def get_print(self, print_id: int) -> Print:
        return self._load_print(print_id)

    @_guarded
    def find_receipts(
        self,
        *,
        printer: str | None = None,
        order_ref: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Receipt]:
        """Newest first. Page with ``before_id`` = the smallest id of the previous page
        (keyset paging: no OFFSET scans). ``since`` inclusive, ``until`` exclusive.

        The index is chosen here, not by the planner (whose choice flips with statistics):
        order_ref, else a time window (top-N sort of the rows in the window: cost grows
        with the window, not with the journal), else state, else printer, else the table
        in id order."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("printer", printer), ("order_ref", order_ref),
                              ("state", state)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("created_at >= ?")
            params.append(format_ts(since))
        if until is not None:
            where.append("created_at < ?")
            params.append(format_ts(until))
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if order_ref is not None:
            index = "INDEXED BY receipts_order_ref"
        elif since is not None or until is not None:
            index = ("INDEXED BY receipts_printer_created" if printer is not None
                     else "INDEXED BY receipts_created_at")
        elif state is not None:
            index = "INDEXED BY receipts_state"
        elif printer is not None:
            index = "INDEXED BY receipts_printer"
        else:
            index = "NOT INDEXED"
        limit = max(1, min(int(limit), MAX_PAGE))
        # Ids first (the sort of a time window then moves ids, not 2 KB rows), rows after.
        sql = f"SELECT id FROM receipts {index}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        ids = [int(r[0]) for r in self.conn.execute(sql, [*params, limit])]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._rows(f"SELECT * FROM receipts WHERE id IN ({marks}) ORDER BY id DESC", ids)
        return self._receipts(rows)

    @_guarded
    def last_receipt(self, printer: str) -> Receipt | None:
        """The printer's newest receipt that was not cancelled (for "reprint last")."""
        rows = self._rows(
            """
            SELECT * FROM receipts INDEXED BY receipts_printer
            WHERE printer = ? AND state != 'cancelled' ORDER BY id DESC LIMIT 1
            """,
            (printer,),
        )
        found = self._receipts(rows)
        return found[0] if found else None

    @_guarded
    def receipts_for_order(self, order_ref: str) -> list[Receipt]:
        """Receipts of one order, oldest first (at most ``MAX_PAGE``)."""
        rows = self._rows(
            "SELECT * FROM receipts INDEXED BY receipts_order_ref WHERE order_ref = ? "
            "ORDER BY id LIMIT ?",
            (order_ref, MAX_PAGE),
        )
        return self._receipts(rows)

    @_guarded
    def waiting_receipts(self, printer: str) -> list[tuple[int, str]]:
        """(receipt id, receipt state) of the printer's receipts with a print queued or
        sending, oldest first (at most ``MAX_PAGE``): who waits while the printer is faulted."""
        rows = self._rows(
            """
            SELECT DISTINCT p.receipt_id AS id, r.state AS state FROM prints AS p
            JOIN receipts AS r ON r.id = p.receipt_id
            WHERE p.printer = ? AND p.state IN ('queued', 'sending')
            ORDER BY p.receipt_id LIMIT ?
            """,
            (printer, MAX_PAGE),
        )
        return [(int(r["id"]), str(r["state"])) for r in rows]

    @_guarded
    def queue_stats(self, printer: str) -> QueueStats:
        queued = self._row(
            """
            SELECT count(*) AS depth, min(id) AS oldest FROM prints
            WHERE printer = ? AND state = 'queued'
            """,
            (printer,),
        )
        sending = self._row(
            "SELECT count(*) AS n FROM prints WHERE printer = ? AND state = 'sending'",
            (printer,),
        )
        assert queued is not None and sending is not None
        oldest_at = None
        if queued["oldest"] is not None:
            oldest_at = self._load_print(queued["oldest"]).created_at
        return QueueStats(depth=queued["depth"], oldest_queued_at=oldest_at,
                          in_doubt=sending["n"])

    @_guarded
    def counters(self, printer: str) -> dict[str, int | float]:
        """Monotonic counters of one printer (they survive ``purge``)."""
        out: dict[str, int | float] = {
            "submitted": 0,
            "printed_originals": 0,
            "copies_printed": 0,
            "reprints_requested": 0,
            "interrupted_retries": 0,
            "cancelled": 0,
            "paper_mm": 0.0,
        }
        for row in self._rows("SELECT name, value FROM printer_counters WHERE printer = ?",
                              (printer,)):
            out[row["name"]] = row["value"]
        out["paper_mm"] = float(out["paper_mm"])
        return out

    # -- printer events -----------------------------------------------------------------------

    @_guarded
    def record_printer_event(
        self,
        *,
        printer: str,
        state: str,
        previous: str | None,
        cause: str | None,
        detail: dict[str, Any],
    ) -> PrinterEvent:
        text = json.dumps(detail, sort_keys=True, default=str)
        with self._tx() as conn:
            cur = conn.execute(
                """
                INSERT INTO printer_events (printer, at, state, previous, cause, detail)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                (printer, self._now(), state, previous, cause, text),
            )
            row = self._row("SELECT * FROM printer_events WHERE id = ?", (cur.lastrowid,))
            assert row is not None
            return _event_from(row)

    @_guarded
    def printer_events(
        self,
        printer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[PrinterEvent]:
        """Newest first; ``before_id`` pages like ``find_receipts``."""
        where: list[str] = []
        params: list[Any] = []
        if printer is not None:
            where.append("printer = ?")
            params.append(printer)
        if since is not None:
            where.append("at >= ?")
            params.append(format_ts(since))
        if until is not None:
            where.append("at < ?")
            params.append(format_ts(until))
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        sql = "SELECT * FROM printer_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        limit = max(1, min(int(limit), MAX_EVENTS_PAGE))
        return [_event_from(r) for r in self._rows(sql, [*params, limit])]

    # -- retention and maintenance ------------------------------------------------------------

    def _used_bytes(self) -> int:
        conn = self.conn
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * page_size

    def _purge_batch(self, after_id: int, cutoff: str | None, batch: int) -> tuple[int, int, bool]:
        """Delete settled receipts among the next ``batch`` ids after ``after_id``.

        Settled: printed or cancelled, no print queued or sending, and (with ``cutoff``)
        created and last finished before it. Returns (deleted, last id scanned, done).
        """
        with self._tx() as conn:
            scan = self._rows(
                "SELECT id, created_at FROM receipts WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, batch),
            )
            if not scan:
                return 0, after_id, True
            # Receipts are created in id order: past the first one newer than the cutoff,
            # nothing can qualify (a receipt finishes after it was created).
            done = len(scan) < batch
            upto = scan[-1]["id"]
            if cutoff is not None:
                newer = [r["id"] for r in scan if r["created_at"] >= cutoff]
                if newer:
                    upto, done = newer[0] - 1, True
            rows = self._rows(
                """
                SELECT id FROM receipts AS r
                WHERE id > ? AND id <= ? AND state IN ('printed', 'cancelled')
                  AND NOT EXISTS (
                    SELECT 1 FROM prints AS p WHERE p.receipt_id = r.id
                      AND (p.state IN ('queued', 'sending') OR p.finished_at IS NULL
                           OR (? IS NOT NULL AND p.finished_at >= ?)))
                """,
                (after_id, upto, cutoff, cutoff),
            )
            ids = [r["id"] for r in rows]
            if ids:
                marks = ",".join("?" * len(ids))
                conn.execute(f"DELETE FROM receipts WHERE id IN ({marks})", ids)
            return len(ids), upto, done

    @_guarded
    def purge(self, *, older_than: datetime, batch: int = 500, max_bytes: int | None = None) -> int:
        """Delete settled (printed or cancelled) receipts whose last print finished before
        ``older_than``, in short transactions of ``batch`` receipts; never one with a print
        queued or sending. With ``max_bytes``, then also delete the oldest settled receipts
        while the journal's used pages exceed it. Printer events older than ``older_than``
        go too. Freed pages are reused (the file keeps its high-water size). Returns the
        number of receipts deleted."""
        batch = max(1, int(batch))
        cutoff = format_ts(older_than)
        deleted, cursor, done = 0, 0, False
        while not done:
            n, cursor, done = self._purge_batch(cursor, cutoff, batch)
            deleted += n
        if max_bytes is not None:
            cursor, done = 0, False
            while not done and self._used_bytes() > max_bytes:
                n, cursor, done = self._purge_batch(cursor, None, batch)
                deleted += n
        while True:
            with self._tx() as conn:
                n = conn.execute(
                    """
                    DELETE FROM printer_events WHERE id IN (
                        SELECT id FROM printer_events WHERE at < ? ORDER BY at LIMIT ?)
                    """,
                    (cutoff, batch),
                ).rowcount
            if n < batch:
                break
        return deleted

    @_guarded
    def stats(self) -> dict[str, Any]:
        """Sizes and counts for the admin (full counts: not for hot paths)."""
        conn = self.conn
        by_state = {s: 0 for s in RECEIPT_STATES}
        for row in self._rows("SELECT state, count(*) AS n FROM receipts GROUP BY state"):
            by_state[row["state"]] = row["n"]
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        wal = Path(f"{self.path}-wal")
        return {
            "receipts": by_state,
            "file_bytes": self.path.stat().st_size,
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "page_size": page_size,
            "page_count": pages,
            "freelist_count": free,
            "schema_version": migrations.schema_version(conn),
        }

    @_guarded
    def check(self) -> list[str]:
        """Full ``PRAGMA integrity_check``: ``["ok"]`` when healthy."""
        return [str(r[0]) for r in self.conn.execute("PRAGMA integrity_check").fetchall()]

    @_guarded
    def backup(self, dest_path: str | os.PathLike[str]) -> None:
        """Online copy to ``dest_path`` (consistent snapshot; writers are not blocked)."""
        dest = sqlite3.connect(os.fspath(dest_path))
        try:
            self.conn.backup(dest)
        finally:
            dest.close()

    # -- API tokens (see receiptd.auth; only salted hashes are stored) --------------------------

    @_guarded
    def add_token(self, *, key_id: str, name: str, role: str, kdf: str, salt: bytes,
                  digest: bytes, created_by: str | None) -> ApiToken:
        """Store a new token; ``Conflict`` (``token_exists``) if an active one has the name."""
        with self._tx() as conn:
            if self._row("SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
                         (name,)) is not None:
                raise Conflict(f"an active token named {name!r} exists", code="token_exists")
            cur = conn.execute(
                """
                INSERT INTO api_tokens (key_id, name, role, kdf, salt, hash, created_at,
                                        created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (key_id, name, role, kdf, salt, digest, self._now(), created_by),
            )
            return self._token(f"id = {int(cur.lastrowid or 0)}")

    @_guarded
    def token_by_key(self, key_id: str) -> ApiToken | None:
        """The active token with this public key id, or None."""
        rows = self._rows("SELECT * FROM api_tokens WHERE key_id = ? AND revoked_at IS NULL",
                          (key_id,))
        return _token_from(rows[0]) if rows else None

    @_guarded
    def tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        return [_token_from(r) for r in self._rows(f"SELECT * FROM api_tokens {where} ORDER BY id")]

    @_guarded
    def revoke_token(self, name: str, *, by: str | None) -> ApiToken:
        """Revoke the active token ``name``; ``NotFound`` (``unknown_token``) if there is none."""
        with self._tx() as conn:
            row = self._row("SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
                            (name,))
            if row is None:
                raise NotFound(f"no active token named {name!r}", code="unknown_token")
            conn.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                         (self._now(), by, row["id"]))
            return self._token(f"id = {int(row['id'])}")

    def _token(self, where: str) -> ApiToken:
        return _token_from(self._rows(f"SELECT * FROM api_tokens WHERE {where}")[0])


@dataclass(frozen=True)
class ApiToken:
    id: int
    key_id: str
    name: str
    role: str
    kdf: str
    salt: bytes
    digest: bytes
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None


def _token_from(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"], key_id=row["key_id"], name=row["name"], role=row["role"], kdf=row["kdf"],
        salt=bytes(row["salt"]), digest=bytes(row["hash"]), created_at=parse_ts(row["created_at"]),
        created_by=row["created_by"], revoked_at=_opt_ts(row["revoked_at"]),
        revoked_by=row["revoked_by"],
    )
