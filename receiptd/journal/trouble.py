"""Prints that cannot go on by themselves: ``failed`` (they cannot be made from what the
journal holds: terminal, with the reason) and ``held`` (interrupted too many times in a row,
or gone stale waiting through a printer fault: they wait for a person's word). A failure is
confined to its own receipt; the printer goes on with the next one.

Also the two row helpers every transition uses: counting, and queueing a print.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from receiptd.errors import Conflict
from receiptd.journal.db import Store, guarded
from receiptd.journal.reads import load_print, print_row
from receiptd.journal.records import Print, format_ts, parse_ts, print_from

#: ``prints.marker`` of a print held because it went stale in a fault. Once a person releases
#: it, it prints under a DELAYED marker, and a later fault never holds it again.
DELAYED = "delayed"


def count(conn: sqlite3.Connection, printer: str, name: str, by: float) -> None:
    conn.execute(
        """
        INSERT INTO printer_counters (printer, name, value) VALUES (?, ?, ?)
        ON CONFLICT (printer, name) DO UPDATE SET value = value + excluded.value
        """,
        (printer, name, by),
    )


def insert_print(
    conn: sqlite3.Connection, *, receipt_id: int, printer: str, kind: str, attempt: int,
    created_at: str, copy_number: int | None = None, retry_of: int | None = None,
    marker: str | None = None, requested_by: str | None = None, reason: str | None = None,
    state: str = "queued", hold_base: int = 0, sent_at: str | None = None,
) -> int:
    """Queue (or hold, or start: ``sent_at``) a new print of ``receipt_id``; returns its id."""
    cur = conn.execute(
        """
        INSERT INTO prints (receipt_id, printer, kind, state, attempt, copy_number,
                            retry_of, marker, requested_by, reason, created_at, hold_base,
                            sent_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (receipt_id, printer, kind, state, attempt, copy_number, retry_of, marker,
         requested_by, reason, created_at, hold_base, sent_at),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def mark_failed(conn: sqlite3.Connection, *, print_id: int, receipt_id: int, printer: str,
                reason: str, now: str) -> None:
    """``→ failed``, inside the caller's transaction: the print, with the reason; its receipt
    too unless it already printed; the printer's counter."""
    conn.execute(
        "UPDATE prints SET state = 'failed', finished_at = ?, outcome = ? WHERE id = ?",
        (now, f"failed: {reason}", print_id),
    )
    conn.execute(
        "UPDATE receipts SET state = 'failed' WHERE id = ? "
        "AND state IN ('queued', 'printing', 'held')",
        (receipt_id,),
    )
    count(conn, printer, "failed", 1)


class TroubleStore(Store):
    """The failed and held transitions of ``journal.receipts``."""

    @guarded
    def fail_print(self, print_id: int, *, reason: str) -> Print:
        """``queued | sending | held → failed``: this print cannot be made (its journaled
        receipt no longer loads or renders). Terminal, with the reason; the receipt fails
        with it unless it already printed. The printer goes on with the next print."""
        db = self._db
        with db.tx() as conn:
            p = print_row(db, print_id)
            if p["state"] not in ("queued", "sending", "held"):
                raise Conflict(f"print {print_id} is {p['state']}: it cannot fail now",
                               code="not_pending")
            mark_failed(conn, print_id=print_id, receipt_id=p["receipt_id"],
                        printer=p["printer"], reason=reason, now=db.now())
            return load_print(db, print_id)

    @guarded
    def release_held(self, *, receipt_id: int | None = None, printer: str | None = None,
                     by: str | None = None) -> list[Print]:
        """A person's word: the held prints of one receipt (or of one printer) go back to the
        queue, with a fresh run of attempts. Returns them (none held: empty)."""
        if (receipt_id is None) == (printer is None):
            raise ValueError("release_held: give a receipt_id or a printer")
        db = self._db
        with db.tx() as conn:
            rows = db.rows(
                "SELECT * FROM prints WHERE state = 'held' AND (receipt_id = ? OR printer = ?) "
                "ORDER BY id",
                (receipt_id, printer),
            )
            for p in rows:
                conn.execute(
                    "UPDATE prints SET state = 'queued', hold_base = attempt - 1, "
                    "reason = coalesce(reason || '; ', '') || ? WHERE id = ?",
                    (f"released by {by or 'unknown'}", p["id"]),
                )
                conn.execute("UPDATE receipts SET state = 'queued' WHERE id = ? AND state = 'held'",
                             (p["receipt_id"],))
                count(conn, p["printer"], "released", 1)
            return [load_print(db, p["id"]) for p in rows]

    @guarded
    def hold_stale(self, printer: str, *, queued_before: datetime, reason: str) -> list[Print]:
        """``queued → held`` for every print of ``printer`` queued before ``queued_before``
        (and never released from such a hold before): the spooler's call when a fault clears,
        for prints that waited through it longer than the printer's ``hold_after_s``. A
        customer long gone needs no slip; a person decides (``release_held``). The receipt
        shows ``held`` unless it already printed (a copy went stale). Returns the prints."""
        db = self._db
        with db.tx() as conn:
            rows = db.rows(
                "SELECT id, receipt_id FROM prints WHERE printer = ? AND state = 'queued' "
                "AND created_at < ? AND coalesce(marker, '') != ? ORDER BY id",
                (printer, format_ts(queued_before), DELAYED),
            )
            for p in rows:
                conn.execute(
                    # Why it waits first: that is what the cashier reads.
                    "UPDATE prints SET state = 'held', marker = ?, "
                    "reason = ? || coalesce('; ' || reason, '') WHERE id = ?",
                    (DELAYED, reason, p["id"]),
                )
                conn.execute("UPDATE receipts SET state = 'held' WHERE id = ? "
                             "AND state = 'queued'", (p["receipt_id"],))
                count(conn, printer, "held_stale", 1)
            return [load_print(db, p["id"]) for p in rows]

    def readable(self, row: sqlite3.Row) -> Print | None:
        """The print of ``row``, or None if the row is too damaged to read: then it fails,
        and its damaged creation time is replaced, so its receipt can still be shown."""
        try:
            return print_from(row)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            self._fail_damaged(row["id"], f"its journal row is damaged ({type(exc).__name__}: "
                                          f"{exc})")
            return None

    def _fail_damaged(self, print_id: int, reason: str) -> None:
        db = self._db
        with db.tx() as conn:
            p = print_row(db, print_id)
            now = db.now()
            try:
                parse_ts(str(p["created_at"]))
                created = p["created_at"]
            except ValueError:
                created = now
            conn.execute(
                "UPDATE prints SET state = 'failed', finished_at = ?, created_at = ?, "
                "outcome = ? WHERE id = ?",
                (now, created, f"failed: {reason}", print_id),
            )
            conn.execute(
                "UPDATE receipts SET state = 'failed' WHERE id = ? "
                "AND state IN ('queued', 'printing', 'held')",
                (p["receipt_id"],),
            )
            count(conn, p["printer"], "failed", 1)
