"""Loading receipts and prints as records: shared by the state machine and the search.

A receipt always comes with all its prints (oldest first), read in one query per page of
receipts, not one per receipt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from receiptd.errors import NotFound
from receiptd.journal.db import JournalDb
from receiptd.journal.records import Print, Receipt, print_from, receipt_from


def select_receipts(index: str = "") -> str:
    """``SELECT`` of receipt rows ``r`` with their bodies (content and rendered bytes live
    apart, written once), reading ``receipts`` through ``index`` when one is named."""
    indexed = f" INDEXED BY {index}" if index else ""
    return ("SELECT r.*, b.content, b.rendered FROM receipts AS r"
            f"{indexed} LEFT JOIN receipt_bodies AS b ON b.receipt_id = r.id")


RECEIPTS = select_receipts()


def print_row(db: JournalDb, print_id: int) -> sqlite3.Row:
    row = db.row("SELECT * FROM prints WHERE id = ?", (print_id,))
    if row is None:
        raise NotFound(f"print {print_id} not found")
    return row


def receipt_row(db: JournalDb, receipt_id: int) -> sqlite3.Row:
    row = db.row(f"{RECEIPTS} WHERE r.id = ?", (receipt_id,))
    if row is None:
        raise NotFound(f"receipt {receipt_id} not found")
    return row


def load_print(db: JournalDb, print_id: int) -> Print:
    return print_from(print_row(db, print_id))


def load_receipt(db: JournalDb, receipt_id: int) -> Receipt:
    row = receipt_row(db, receipt_id)
    return receipt_from(row, prints_of(db, [receipt_id]).get(receipt_id, ()))


def prints_of(db: JournalDb, receipt_ids: Sequence[int]) -> dict[int, list[Print]]:
    out: dict[int, list[Print]] = {}
    if not receipt_ids:
        return out
    marks = ",".join("?" * len(receipt_ids))
    for row in db.rows(
        f"SELECT * FROM prints WHERE receipt_id IN ({marks}) ORDER BY receipt_id, id",
        list(receipt_ids),
    ):
        out.setdefault(row["receipt_id"], []).append(print_from(row))
    return out


def load_receipts(db: JournalDb, rows: Sequence[sqlite3.Row]) -> list[Receipt]:
    """Receipt rows → receipts with their prints, in the rows' order."""
    prints = prints_of(db, [r["id"] for r in rows])
    return [receipt_from(r, prints.get(r["id"], ())) for r in rows]
