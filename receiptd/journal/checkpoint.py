"""Checkpoints off the writers' path: the WAL is copied into the journal file by one thread of
its own, never by a commit that someone waits on.

SQLite's default has the commit that grows the WAL past 1,000 pages copy it into the database
file and fsync that file, inside the committing call. With 1 KiB pages that is every 20 or so
receipts, and the commit may be the event loop's own (a lone submission is committed there):
its 202, and every request behind it, waited tens of milliseconds for a checkpoint. A
daemon's connections are opened with ``autocheckpoint=False`` (``JournalDb``); each of their
commits only wakes the ``Checkpointer`` of that file, which reads how many WAL frames are not
copied yet (the wal-index header in the ``-shm`` file: ``mxFrame`` less ``nBackfill``, as
SQLite's WAL format documents them) and, past the same 1,000, runs a ``PASSIVE`` checkpoint
(it never waits for a reader or a writer; what it cannot copy now, its next round does). The
WAL file's size cannot tell: once grown, it keeps its size while SQLite reuses it.

The files that have a checkpointer are registered here by path: a connection opened without
autocheckpoint and no checkpointer running would let the WAL grow without end, so
``JournalDb`` refuses that combination (``require``).
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger("receiptd.journal")

#: WAL pages past which a checkpoint runs: SQLite's own default threshold.
WAL_PAGES = 1000
#: After a round, at most one more this soon: a burst of commits wakes it once, not each time.
MIN_GAP_S = 0.05

_WAKES: dict[str, threading.Event] = {}
_LOCK = threading.Lock()


def _key(path: os.PathLike[str] | str) -> str:
    return os.path.realpath(path)


def require(path: os.PathLike[str] | str) -> threading.Event:
    """The wake-up of the checkpointer of ``path``; ``RuntimeError`` if none was made."""
    with _LOCK:
        wake = _WAKES.get(_key(path))
    if wake is None:
        raise RuntimeError(f"no checkpointer for {path}: its WAL would grow without end")
    return wake


class Checkpointer:
    """Copies one journal file's WAL into it when the WAL has grown (see the module)."""

    def __init__(self, path: os.PathLike[str] | str, *, idle_wait_s: float = 2.0,
                 on_beat: Callable[[], None] | None = None,
                 wal_pages: int = WAL_PAGES) -> None:
        self.path = Path(path)
        self.idle_wait_s = idle_wait_s
        self.wal_pages = wal_pages
        self.rounds = 0  # checkpoints run (for tests and the log)
        self.on_beat = on_beat or (lambda: None)
        self._stop = threading.Event()
        with _LOCK:
            self._wake = _WAKES.setdefault(_key(path), threading.Event())

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.is_set():
                self.on_beat()
                self._wake.wait(self.idle_wait_s)
                self._wake.clear()
                pending = self.pending_frames()
                if pending is None or pending >= self.wal_pages:
                    self.checkpoint(conn)
                self._stop.wait(MIN_GAP_S)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.rounds += 1
        log.debug("journal_checkpoint", wal_frames=frames, copied=copied, busy=busy)

    def pending_frames(self) -> int | None:
        """WAL frames written and not yet copied into the database file, from the wal-index
        header; 0 without a WAL; None when the header is not one this reads (then every
        round checkpoints, as the rate limit allows)."""
        try:
            header = _read_wal_index(f"{self.path}-shm", _CKPT_INFO + 4)
        except FileNotFoundError:
            return 0
        except OSError:
            return None
        if len(header) < _CKPT_INFO + 4:
            return 0
        version, = struct.unpack_from("=I", header, 0)
        if version != _WAL_INDEX_VERSION:
            return None
        max_frame, = struct.unpack_from("=I", header, _MX_FRAME)
        backfilled, = struct.unpack_from("=I", header, _CKPT_INFO)
        return max(0, int(max_frame) - int(backfilled))


#: One read-only descriptor per wal-index file this process has read, by path, never closed.
#: SQLite's locks on the ``-shm`` file are POSIX record locks, which belong to the process and
#: the file: closing *any* descriptor of that file in the process drops them all, those of
#: every SQLite connection included. A process whose lock on the wal-index is gone looks to
#: another one opening the journal (``receiptctl``, a backup, a test) like no process at
#: all, and that opener rebuilds the wal-index under it: the first process then reads a
#: truncated mapping (SIGBUS) or a rebuilt index. So the header is read with ``pread`` on a
#: descriptor opened once; a replaced file (SQLite removes the ``-shm`` when the last
#: connection anywhere closes) gets a new one, and the old one stays open too.
_INDEX_FDS: dict[str, tuple[int, int, int]] = {}  # path -> (fd, st_dev, st_ino)


def _read_wal_index(path: str, size: int) -> bytes:
    """The first ``size`` bytes of the wal-index at ``path``, without ever closing a
    descriptor of it (see ``_INDEX_FDS``). ``FileNotFoundError`` when there is none."""
    now = os.stat(path)
    with _LOCK:
        held = _INDEX_FDS.get(path)
        if held is None or held[1:] != (now.st_dev, now.st_ino):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened = os.fstat(fd)
            held = _INDEX_FDS[path] = (fd, opened.st_dev, opened.st_ino)
        return os.pread(held[0], size, 0)


# The wal-index header (https://www.sqlite.org/walformat.html, "The WAL-Index Format"), in the
# machine's byte order: iVersion at 0, mxFrame at 16; the checkpoint information follows the
# header's two 48-byte copies, nBackfill first.
_WAL_INDEX_VERSION = 3007000
_MX_FRAME = 16
_CKPT_INFO = 96
