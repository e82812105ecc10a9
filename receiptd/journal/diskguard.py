"""Admission control on the journal's disk.

New receipts (and reprints) are refused with 503 ``journal_unavailable`` while the disk
holding the journal has less than ``daemon.journal_reserve_bytes`` free. The reserve is for
the work already accepted: each print of a queued receipt still writes its state changes
(``sending``, ``printed``) to the journal, and those must not fail because new receipts ate
the last megabytes. When the disk is truly full SQLite itself refuses the write, which the
journal also reports as ``journal_unavailable``: never a 202 for a receipt not on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from receiptd.errors import JournalUnavailable


def free_bytes(journal: Path) -> int | None:
    """Bytes available to this process on the journal's file system (None: unknown)."""
    try:
        st = os.statvfs(journal.parent if not journal.is_dir() else journal)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def check_reserve(journal: Path, reserve: int) -> None:
    if reserve <= 0:
        return
    free = free_bytes(journal)
    if free is not None and free < reserve:
        raise JournalUnavailable(
            f"the journal's disk has {free} bytes free, less than the {reserve} bytes kept for "
            "receipts already queued: new receipts are refused until space is freed"
        )


def low_on_space(journal: Path, reserve: int) -> bool:
    """Free space is within twice the reserve of what the WAL may still need in the database
    file: from here on the journal checkpoints after each commit (``JournalDb.tx``), so that
    free space tells admission the truth before the reserve is reached."""
    if reserve <= 0:
        return False
    free = free_bytes(journal)
    if free is None:
        return False
    try:
        wal = os.stat(f"{journal}-wal").st_size
    except OSError:
        wal = 0
    return free < 2 * reserve + wal


def check_writable(journal: Path) -> None:
    """Refuse a journal on a read-only file system at start. SQLite would quietly open it
    read-only (a WAL left behind makes that work), the daemon would run but never record a
    print, and that connection would stay read-only after the disk came back: better to stop
    with exit code 3 and be restarted (systemd: Restart=on-failure) once it is writable."""
    directory = journal.parent
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return  # missing directory: opening the journal reports it
    if read_only:
        raise JournalUnavailable(
            f"journal {journal}: its file system is mounted read-only; receiptd cannot record "
            "receipts there. Make it writable (or point daemon.journal elsewhere) and restart"
        )
    for path in (journal, directory):
        if path.exists() and not os.access(path, os.W_OK):
            raise JournalUnavailable(
                f"journal {journal}: {path} is read-only for this user; receiptd cannot record "
                "receipts there. Fix its permissions and restart"
            )
