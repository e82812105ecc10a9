"""Keeping the journal in shape: retention purge, sizes, integrity check, online backup.

Purging works in short transactions so the spooler's writes never wait long behind it, and
never deletes a receipt that still has a print queued or sending. Freed pages are reused (the
file keeps its high-water size).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from receiptd.journal.check import state_count_problems
from receiptd.journal.db import Store, guarded
from receiptd.journal.migrations import schema_version
from receiptd.journal.records import RECEIPT_STATES, format_ts


class MaintenanceStore(Store):
    """``journal.admin``: what the retention thread and the admin API run."""

    def _pages(self) -> tuple[int, int, int]:
        """(page size, page count, free pages) of the journal file."""
        conn = self._db.conn
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        return page_size, pages, free

    @guarded
    def used_bytes(self) -> int:
        """Bytes of the journal's pages in use (the file minus its free pages)."""
        page_size, pages, free = self._pages()
        return (pages - free) * page_size

    def _purge_batch(self, after_id: int, cutoff: str | None, batch: int) -> tuple[int, int, bool]:
        """Delete settled receipts among the next ``batch`` ids after ``after_id``.

        Settled: printed, cancelled or failed (terminal: a copy a cashier asks for is a print
        of its own, queued, which keeps the receipt), no print queued or sending, and (with
        ``cutoff``)
        created and last finished before it. Returns (deleted, last id scanned, done).
        """
        db = self._db
        with db.tx() as conn:
            scan = db.rows(
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
            rows = db.rows(
                """
                SELECT id FROM receipts AS r
                WHERE id > ? AND id <= ? AND state IN ('printed', 'cancelled', 'failed')
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

    @guarded
    def purge(self, *, older_than: datetime, batch: int = 500, max_bytes: int | None = None,
              pause: Callable[[], bool] | None = None) -> int:
        """Delete settled (printed, cancelled, failed) receipts whose last print finished
        before ``older_than``, in short transactions of ``batch`` receipts; never one with a print
        queued or sending. With ``max_bytes``, then also delete the oldest settled receipts
        while the journal's used pages exceed it. Printer events older than ``older_than``
        go too. ``pause``, asked before each transaction: True ends the purge there (what is
        left waits for the next one). Returns the number of receipts deleted."""
        batch = max(1, int(batch))
        cutoff = format_ts(older_than)

        def go_on() -> bool:
            return pause is None or not pause()

        deleted, cursor, done = 0, 0, False
        while not done:
            if not go_on():
                return deleted
            n, cursor, done = self._purge_batch(cursor, cutoff, batch)
            deleted += n
        if max_bytes is not None:
            cursor, done = 0, False
            while not done and self.used_bytes() > max_bytes:
                if not go_on():
                    return deleted
                n, cursor, done = self._purge_batch(cursor, None, batch)
                deleted += n
        while go_on():
            with self._db.tx() as conn:
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

    @guarded
    def stats(self) -> dict[str, Any]:
        """Sizes and counts for the admin. The receipts by state are the counts the journal
        keeps (``receipt_state_counts``, exact at every commit): a few rows whatever the
        journal's size."""
        by_state = {s: 0 for s in RECEIPT_STATES}
        for row in self._db.rows("SELECT state, n FROM receipt_state_counts"):
            by_state[row["state"]] = row["n"]
        page_size, pages, free = self._pages()
        wal = Path(f"{self.path}-wal")
        file_bytes = self.path.stat().st_size
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        return {
            "receipts": by_state,
            "total_bytes": file_bytes + wal_bytes,  # on disk: the WAL holds the newest pages
            "file_bytes": file_bytes,
            "wal_bytes": wal_bytes,
            "page_size": page_size,
            "page_count": pages,
            "freelist_count": free,
            "schema_version": schema_version(self._db.conn),
        }

    @guarded
    def check(self) -> list[str]:
        """Full ``PRAGMA integrity_check``, then the kept receipt counts against a real count:
        ``["ok"]`` when healthy, else the problems."""
        conn = self._db.conn
        lines = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if lines != ["ok"]:
            return lines
        return state_count_problems(conn, str(self.path)) or ["ok"]

    @guarded
    def backup(self, dest_path: str | os.PathLike[str]) -> None:
        """Online copy to ``dest_path`` (consistent snapshot; writers are not blocked)."""
        dest = sqlite3.connect(os.fspath(dest_path))
        try:
            self._db.conn.backup(dest)
        finally:
            dest.close()
