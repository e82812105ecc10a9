"""A purge keeps the write-ahead log bounded while a long reader holds it back
(receiptd/journal/retention.py).

Checkpoints copy the WAL into the journal file only up to what the oldest open read
transaction sees. With a reader open the whole time (here a connection in a read
transaction, in the daemon the integrity check after a start), everything a purge writes
stays in the WAL; without a bound, purging two million receipts grew it to 7 GB."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from receiptd.config import RetentionConfig
from receiptd.journal import Journal
from receiptd.journal.checkpoint import Checkpointer
from receiptd.journal.retention import MAX_BACKLOG_FRAMES, Retention

RECEIPTS = 1500
RENDERED = 16_000  # about sixteen 1 KiB pages a receipt: a purge of them writes ~25,000 frames
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def fill(path: Path) -> None:
    """RECEIPTS printed receipts, all of them long settled."""
    with Journal(path, clock=lambda: LONG_AGO) as journal:
        for i in range(RECEIPTS):
            receipt, _ = journal.receipts.submit(
                printer="front", kind="text", content_json=f'{{"text": "{i}"}}',
                rendered=b"\x1b@" + bytes([i % 251]) * RENDERED, profile="TM-T88V",
                request_hash=f"h{i}", idempotency_key=f"k{i}", order_ref=None,
                submitted_by="till-1")
            journal.receipts.start_print(receipt.prints[0].id)
            journal.receipts.finish_print(receipt.prints[0].id, confirmation="process_id")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retention") / "template.db"
    fill(path)
    return path


@pytest.fixture
def journal_path(filled: Path, tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    src = sqlite3.connect(filled)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


@pytest.fixture
def long_reader(journal_path: Path) -> Iterator[sqlite3.Connection]:
    """A read transaction open throughout, as the integrity check keeps one per table."""
    conn = sqlite3.connect(journal_path, isolation_level=None)
    conn.execute("BEGIN")
    assert conn.execute("SELECT count(*) FROM receipts").fetchone()[0] == RECEIPTS
    yield conn
    conn.close()


def checkpoint(path: Path) -> None:
    """What the daemon's checkpointer does, on a connection of its own."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


def test_a_purge_behind_a_long_reader_stops_at_the_bound_and_goes_on_at_its_next_pass(
        journal_path: Path, long_reader: sqlite3.Connection) -> None:
    backlog = Checkpointer(journal_path).pending_frames
    with Journal(journal_path) as journal:
        retention = Retention(lambda: journal, RetentionConfig(days=30), backlog=backlog)
        first = retention.run_once(journal)
        assert 0 < first < RECEIPTS  # stopped part-way ...
        frames = backlog() or 0
        assert MAX_BACKLOG_FRAMES < frames < 2 * MAX_BACKLOG_FRAMES  # ... one batch past it
        assert retention.run_once(journal) == 0  # still held back: not one batch more
        assert (backlog() or 0) == frames

        long_reader.execute("COMMIT")  # the check moved on; the checkpointer copies the WAL
        checkpoint(journal_path)
        assert (backlog() or 0) == 0
        assert retention.run_once(journal) == RECEIPTS - first  # the rest, at the next pass
        assert journal.search.find(limit=10) == []
        assert (backlog() or 0) <= MAX_BACKLOG_FRAMES


def test_without_a_bound_the_same_purge_leaves_it_all_in_the_wal(
        journal_path: Path, long_reader: sqlite3.Connection) -> None:
    """What the bound prevents: every receipt purged in one pass, all of it still in the WAL."""
    backlog = Checkpointer(journal_path).pending_frames
    with Journal(journal_path) as journal:
        assert Retention(lambda: journal, RetentionConfig(days=30)).run_once(journal) == RECEIPTS
        assert (backlog() or 0) > 1.5 * MAX_BACKLOG_FRAMES
