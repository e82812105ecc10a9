"""Reading the journal: the cashier's search, the queue as the spooler and health see it, and
the per-printer counters.

The hot queries name their index (``INDEXED BY``) instead of leaving the choice to the planner,
whose choice flips with statistics; ``tests/journal/test_journal.py`` checks the plans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from receiptd.journal.db import Store, guarded
from receiptd.journal.reads import RECEIPTS, load_print, load_receipts, select_receipts
from receiptd.journal.records import MAX_PAGE, Print, QueueStats, Receipt, format_ts, print_from

RECEIPTS_BY_PRINTER = select_receipts("receipts_printer")
RECEIPTS_BY_ORDER = select_receipts("receipts_order_ref")


class SearchStore(Store):
    """``journal.search``: queries only, never a write."""

    @guarded
    def find(
        self,
        *,
        printer: str | None = None,
        order_ref: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before_id: int | None = None,
        source: str | None = None,
    ) -> list[Receipt]:
        """Newest first. Page with ``before_id`` = the smallest id of the previous page
        (keyset paging: no OFFSET scans). ``since`` inclusive, ``until`` exclusive.

        The index is chosen here, not by the planner (whose choice flips with statistics):
        order_ref, else a time window (top-N sort of the rows in the window: cost grows
        with the window, not with the journal), else state, else printer, else the table
        in id order. ``source`` has an index of its own, used
        when nothing narrower is asked for."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("printer", printer), ("order_ref", order_ref),
                              ("state", state), ("source", source)):
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
        elif source is not None:
            index = "INDEXED BY receipts_source"
        else:
            index = "NOT INDEXED"
        limit = max(1, min(int(limit), MAX_PAGE))
        # Ids first (the sort of a time window then moves ids, not 2 KB rows), rows after.
        sql = f"SELECT id FROM receipts {index}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        db = self._db
        ids = [int(r[0]) for r in db.conn.execute(sql, [*params, limit])]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = db.rows(f"{RECEIPTS} WHERE r.id IN ({marks}) ORDER BY r.id DESC", ids)
        return load_receipts(db, rows)

    @guarded
    def last_receipt(self, printer: str) -> Receipt | None:
        """The printer's newest receipt that was not cancelled (for "reprint last")."""
        rows = self._db.rows(
            f"{RECEIPTS_BY_PRINTER} WHERE r.printer = ? AND r.state != 'cancelled' "
            "ORDER BY r.id DESC LIMIT 1",
            (printer,),
        )
        found = load_receipts(self._db, rows)
        return found[0] if found else None

    @guarded
    def receipts_for_order(self, order_ref: str) -> list[Receipt]:
        """Receipts of one order, oldest first (at most ``MAX_PAGE``)."""
        rows = self._db.rows(
            f"{RECEIPTS_BY_ORDER} WHERE r.order_ref = ? ORDER BY r.id LIMIT ?",
            (order_ref, MAX_PAGE),
        )
        return load_receipts(self._db, rows)

    @guarded
    def waiting_receipts(self, printer: str) -> list[tuple[int, str]]:
        """(receipt id, receipt state) of the printer's receipts with a print queued or
        sending, oldest first (at most ``MAX_PAGE``): who waits while the printer is faulted."""
        rows = self._db.rows(
            """
            SELECT DISTINCT p.receipt_id AS id, r.state AS state FROM prints AS p
            JOIN receipts AS r ON r.id = p.receipt_id
            WHERE p.printer = ? AND p.state IN ('queued', 'sending')
            ORDER BY p.receipt_id LIMIT ?
            """,
            (printer, MAX_PAGE),
        )
        return [(int(r["id"]), str(r["state"])) for r in rows]

    @guarded
    def queue_stats(self, printer: str) -> QueueStats:
        db = self._db
        queued = db.row(
            """
            SELECT count(*) AS depth, min(id) AS oldest FROM prints
            WHERE printer = ? AND state = 'queued'
            """,
            (printer,),
        )
        sending = db.row(
            "SELECT count(*) AS n FROM prints WHERE printer = ? AND state = 'sending'",
            (printer,),
        )
        held = db.row(
            "SELECT count(*) AS n FROM prints INDEXED BY prints_held "
            "WHERE printer = ? AND state = 'held'",
            (printer,),
        )
        assert queued is not None and sending is not None and held is not None
        oldest_at = None
        if queued["oldest"] is not None:
            oldest_at = load_print(db, queued["oldest"]).created_at
        return QueueStats(depth=queued["depth"], oldest_queued_at=oldest_at,
                          in_doubt=sending["n"], held=held["n"])

    @guarded
    def held_prints(self, printer: str, limit: int = 20) -> list[Print]:
        """The printer's prints held for a person, oldest first."""
        rows = self._db.rows(
            "SELECT * FROM prints INDEXED BY prints_held WHERE printer = ? AND state = 'held' "
            "ORDER BY id LIMIT ?",
            (printer, limit),
        )
        return [print_from(r) for r in rows]

    @guarded
    def failed_prints(self, printer: str, *, since: datetime, limit: int = 20) -> list[Print]:
        """The printer's prints that failed since ``since``, newest first."""
        rows = self._db.rows(
            "SELECT * FROM prints INDEXED BY prints_failed "
            "WHERE printer = ? AND state = 'failed' AND finished_at >= ? "
            "ORDER BY finished_at DESC, id DESC LIMIT ?",
            (printer, format_ts(since), limit),
        )
        return [print_from(r) for r in rows]

    @guarded
    def counters(self, printer: str) -> dict[str, int | float]:
        """Monotonic counters of one printer (they survive ``purge``)."""
        out: dict[str, int | float] = {
            "submitted": 0,
            "printed_originals": 0,
            "copies_printed": 0,
            "reprints_requested": 0,
            "interrupted_retries": 0,
            "cancelled": 0,
            "held": 0,
            "released": 0,
            "failed": 0,
            "paper_mm": 0.0,
        }
        for row in self._db.rows("SELECT name, value FROM printer_counters WHERE printer = ?",
                                 (printer,)):
            out[row["name"]] = row["value"]
        out["paper_mm"] = float(out["paper_mm"])
        return out
