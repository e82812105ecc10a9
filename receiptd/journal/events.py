"""Printer events: each change of a printer's state, kept for the fault history, MTTR and the
roll estimate (``receiptd.monitor.health``) and the admin's event listing.

``seq`` is the sequence number the state change went out with, so an event in the journal can
be matched with the same change seen live; events recorded without one read back ``None``.
``purge`` removes events older than the retention horizon.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from receiptd.journal.db import Store, guarded
from receiptd.journal.records import MAX_EVENTS_PAGE, PrinterEvent, event_from, format_ts

# The store's ``list`` method hides the builtin inside the class body.
_Events = list[PrinterEvent]


class EventStore(Store):
    """``journal.events``: record and list printer events."""

    @guarded
    def record(
        self,
        *,
        printer: str,
        state: str,
        previous: str | None,
        cause: str | None,
        detail: dict[str, Any],
        seq: int | None = None,
    ) -> PrinterEvent:
        text = json.dumps(detail, sort_keys=True, default=str)
        db = self._db
        with db.tx() as conn:
            cur = conn.execute(
                """
                INSERT INTO printer_events (printer, at, state, previous, cause, detail, seq)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                (printer, db.now(), state, previous, cause, text, seq),
            )
            row = db.row("SELECT * FROM printer_events WHERE id = ?", (cur.lastrowid,))
            assert row is not None
            return event_from(row)

    @guarded
    def last_seq(self, printer: str) -> int:
        """The highest sequence number recorded for ``printer`` (0: none yet), so numbering
        goes on across a restart."""
        row = self._db.row(
            "SELECT coalesce(max(seq), 0) AS seq FROM printer_events WHERE printer = ?",
            (printer,),
        )
        return int(row["seq"]) if row is not None else 0

    @guarded
    def list(
        self,
        printer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> _Events:
        """Newest first (by id); ``before_id`` pages like ``journal.search.find``."""
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
        return [event_from(r) for r in self._db.rows(sql, [*params, limit])]
