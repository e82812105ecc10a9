"""``receiptd journal-check --journal PATH``: explain a journal the daemon will not open.

It works on a copy in a temporary directory (the file and its ``-wal``), so the journal itself
stays byte-identical — even SQLite's read-only mode may create ``-shm`` or replay a WAL. It
needs no running daemon (the daemon refuses to start on a damaged journal, exit code 3).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from receiptd.journal.migrations import APPLICATION_ID, latest_version

EXIT_OK = 0
EXIT_MISSING = 2
EXIT_DAMAGED = 3

_ADVICE = (
    "The daemon refuses to start on this file and has not changed it. To get printing again:\n"
    "  1. stop receiptd and move the file aside:  mv {p} {p}.damaged  (and its -wal/-shm)\n"
    "  2. restore the newest backup to {p}, or start receiptd to begin a new, empty journal\n"
    "  3. to salvage receipts from the damaged copy:  sqlite3 {p}.damaged .recover | sqlite3 "
    "salvaged.db"
)


def check(path: Path) -> tuple[int, str]:
    """(exit code, human report). Never writes to ``path`` or next to it."""
    if not path.is_file():
        return EXIT_MISSING, f"{path}: no such file"
    lines = [f"journal {path}: {path.stat().st_size} bytes"]
    with tempfile.TemporaryDirectory(prefix="receiptd-check-") as tmp:
        copy = Path(tmp) / "journal.db"
        try:
            shutil.copyfile(path, copy)
            wal = Path(f"{path}-wal")
            if wal.is_file():
                shutil.copyfile(wal, Path(f"{copy}-wal"))
                lines.append(f"write-ahead log {wal}: {wal.stat().st_size} bytes")
        except OSError as exc:
            return EXIT_MISSING, f"{path}: cannot read it: {exc.strerror}"
        header = copy.read_bytes()[:100]
        if not header.startswith(b"SQLite format 3\x00"):
            lines.append("PROBLEM: the first bytes are not a SQLite header: the file is damaged "
                         "at its start, or it is not a journal at all")
            lines.append(_ADVICE.format(p=path))
            return EXIT_DAMAGED, "\n".join(lines)
        problems: list[str] = []
        try:
            conn = sqlite3.connect(copy, isolation_level=None)
            try:
                app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                lines.append(f"application_id {app_id:#x}, schema version {version} "
                             f"(this receiptd writes {latest_version()})")
                if app_id not in (0, APPLICATION_ID):
                    problems.append("application_id is not receiptd's: another program's file")
                if version > latest_version():
                    problems.append("written by a newer receiptd: upgrade receiptd")
                result = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)")]
                if result != ["ok"]:
                    problems += [f"integrity_check: {r}" for r in result]
                else:
                    lines.append("integrity_check: ok")
                    counts = conn.execute(
                        "SELECT state, count(*) FROM receipts GROUP BY state").fetchall()
                    lines.append("receipts: " + (", ".join(f"{s} {n}" for s, n in counts)
                                                 or "none"))
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            problems.append(f"SQLite cannot read it: {exc} "
                            f"({getattr(exc, 'sqlite_errorname', '?')})")
    if problems:
        lines += [f"PROBLEM: {p}" for p in problems]
        lines.append(_ADVICE.format(p=path))
        return EXIT_DAMAGED, "\n".join(lines)
    lines.append("the journal is healthy")
    return EXIT_OK, "\n".join(lines)
