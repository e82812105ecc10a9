"""Checkpoints off the writers' path (receiptd/journal/checkpoint.py): a daemon's commits never
copy the WAL into the journal file themselves; the file's checkpointer thread does, once the
WAL holds 1,000 frames not copied yet, and the WAL stays bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiptd.journal import Journal
from receiptd.journal.checkpoint import WAL_PAGES, Checkpointer
from receiptd.journal.receipts import NewReceipt


def receipt(i: int) -> NewReceipt:
    """A receipt of about 3 KB: a few dozen 1 KiB pages per commit."""
    return NewReceipt(printer="front", kind="text", content_json=f'{{"text": "{i}"}}',
                      rendered=b"\x1b@" + bytes(3000), profile="TM-T88V",
                      request_hash=f"h{i}", idempotency_key=f"k{i}", order_ref=None,
                      submitted_by="till-1")


def fill_wal(journal: Journal, checkpointer: Checkpointer, frames: int) -> None:
    i = 0
    while (checkpointer.pending_frames() or 0) < frames:
        journal.receipts.submit(**vars(receipt(i)))
        i += 1
        assert i < 2000, "the WAL never grew"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Checkpointer, list[Any]]]:
    checkpointer = Checkpointer(tmp_path / "journal.db", idle_wait_s=0.2)
    thread = threading.Thread(target=checkpointer.run)
    yield checkpointer, [thread]
    checkpointer.stop()
    if thread.is_alive():
        thread.join(10)


def test_a_connection_without_autocheckpoint_needs_a_checkpointer(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no checkpointer"):
        Journal(tmp_path / "journal.db", autocheckpoint=False)


def test_commits_leave_the_wal_to_the_checkpointer(
        tmp_path: Path, running: tuple[Checkpointer, list[Any]]) -> None:
    checkpointer, [thread] = running
    with Journal(tmp_path / "journal.db", autocheckpoint=False) as journal:
        # Not running yet: no commit copies the WAL, however far past SQLite's threshold.
        fill_wal(journal, checkpointer, 2 * WAL_PAGES)
        assert (checkpointer.pending_frames() or 0) >= 2 * WAL_PAGES
        assert checkpointer.rounds == 0
        thread.start()
        journal.receipts.submit(**vars(receipt(10_000)))  # a commit wakes it
        deadline = time.monotonic() + 10
        while (checkpointer.pending_frames() or 0) >= WAL_PAGES and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (checkpointer.pending_frames() or 0) < WAL_PAGES
        assert checkpointer.rounds >= 1
        # Below the threshold it leaves the WAL alone.
        rounds = checkpointer.rounds
        journal.receipts.submit(**vars(receipt(10_001)))
        time.sleep(0.3)  # more than a round's gap: a round that would run has run
        assert checkpointer.rounds == rounds
        assert journal.receipts.get(1).idempotency_key == "k0"


# Run in another process: F_GETLK never reports the asking process's own locks.
_LOCK_HOLDER = """
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
query = struct.pack("@hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)  # the whole file
l_type, _, _, _, pid = struct.unpack("@hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
print(0 if l_type == fcntl.F_UNLCK else pid)
"""


def lock_holder(path: Path) -> int:
    """The process holding a lock on ``path`` (0: none), as another process sees it."""
    out = subprocess.run([sys.executable, "-c", _LOCK_HOLDER, str(path)], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return int(out)


def test_reading_the_wal_index_leaves_sqlites_locks_on_it(tmp_path: Path) -> None:
    """SQLite's locks on the ``-shm`` file are the process's: had the checkpointer closed a
    descriptor of it, they would all be gone, and the next process to open the journal would
    rebuild the wal-index under the daemon (which then died of SIGBUS on its mapping)."""
    path = tmp_path / "journal.db"
    checkpointer = Checkpointer(path)
    with Journal(path, autocheckpoint=False) as journal:
        journal.receipts.submit(**vars(receipt(0)))
        shm = Path(f"{path}-shm")
        assert lock_holder(shm) == os.getpid()
        for i in range(1, 4):
            assert (checkpointer.pending_frames() or 0) > 0
            journal.receipts.submit(**vars(receipt(i)))
        assert lock_holder(shm) == os.getpid()
        # Another process opening and closing the journal leaves this one's index alone.
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect("
                        "sys.argv[1]); c.execute('SELECT count(*) FROM receipts').fetchone()",
                        str(path)], check=True, timeout=30)
        journal.receipts.submit(**vars(receipt(4)))
        assert [journal.receipts.get(n).idempotency_key for n in (1, 5)] == ["k0", "k4"]


def test_a_journal_opened_alone_still_checkpoints_its_own_commits(tmp_path: Path) -> None:
    """The command-line tools and every journal opened outside the daemon keep SQLite's own
    checkpoints: no thread of theirs would copy the WAL."""
    checkpointer = Checkpointer(tmp_path / "other.db")  # only to read the WAL's state
    with Journal(tmp_path / "other.db") as journal:
        for i in range(200):
            journal.receipts.submit(**vars(receipt(i)))
        assert (checkpointer.pending_frames() or 0) < WAL_PAGES


def test_a_daemons_wal_stays_bounded(tmp_path: Path) -> None:
    """The daemon's connections (every thread's) commit without checkpointing; its
    checkpointer, woken by those commits, keeps the WAL under the threshold."""
    from receiptd.config import load_config
    from receiptd.daemon.wiring import Daemon

    daemon = Daemon(load_config(None, journal=tmp_path / "journal.db",
                                printers=["front=tcp://127.0.0.1:9"]))
    daemon.open_journal()
    daemon.checkpointer.idle_wait_s = 0.2
    thread = threading.Thread(target=daemon.checkpointer.run)
    thread.start()
    try:
        for i in range(300):  # about 10,000 frames in all
            daemon.journal().receipts.submit(**vars(receipt(i)))
        deadline = time.monotonic() + 10
        while (daemon.checkpointer.pending_frames() or 0) >= WAL_PAGES \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (daemon.checkpointer.pending_frames() or 0) < WAL_PAGES
        assert daemon.checkpointer.rounds >= 1
    finally:
        daemon.checkpointer.stop()
        thread.join(10)
        daemon.journal().close()
