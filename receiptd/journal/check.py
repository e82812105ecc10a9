"""Journal checks: ``receiptd journal-check`` (``check``), and the daemon's own checks at
start (``quick_open`` before READY, ``IntegrityCheck`` in the background after it).

``receiptd journal-check --journal PATH`` explains a journal the daemon will not open.

It works on a copy in a temporary directory (the file and its ``-wal``), so the journal itself
stays byte-identical — even SQLite's read-only mode may create ``-shm`` or replay a WAL. It
needs no running daemon (the daemon refuses to start on a damaged journal, exit code 3).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from receiptd.journal.migrations import APPLICATION_ID, STATE_COUNT_TRIGGERS, latest_version

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
                    # Not damage (the daemon opens the journal and recounts nothing by
                    # itself): said, with the way to set it right, but not a refusal.
                    kept = state_count_problems(conn, str(path))
                    if kept == []:
                        lines.append("receipt counts kept for the stats: agree with the "
                                     "receipts")
                    lines += [f"WARNING: {p}" for p in kept or []]
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


# ------------------------------------------------------------------- the kept receipt counts
#
# ``receipt_state_counts`` holds the receipts now in the journal by state, kept by triggers on
# ``receipts`` (migration 7) so the admin's stats need no count. Checked against a real count
# where the journal is read whole anyway (the admin's full check, ``receiptd journal-check``).

#: Sets every kept count from the receipts again, in one statement (the triggers keep them
#: from there on). It holds the write lock while it counts: with receiptd stopped.
RECOUNT_SQL = ("UPDATE receipt_state_counts SET n = (SELECT count(*) FROM receipts AS r "
               "WHERE r.state = receipt_state_counts.state)")


def state_count_problems(conn: sqlite3.Connection, journal: str) -> list[str] | None:
    """The kept per-state receipt counts against a real count, in one read snapshot: ``[]``
    when they agree, ``None`` on a journal from before they were kept (the upgrade counts
    them). Reads the state index whole: not for hot paths."""
    opened = not conn.in_transaction
    if opened:
        conn.execute("BEGIN")  # one snapshot for both reads, and no write lock
    try:
        kept_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                  "AND name = 'receipt_state_counts'").fetchone()
        if kept_table is None:
            return None
        problems: list[str] = []
        triggers = {str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'receipts'")}
        missing = [t for t in STATE_COUNT_TRIGGERS if t not in triggers]
        if missing:
            problems.append(f"receipt_state_counts: trigger {', '.join(missing)} missing on "
                            "receipts: the kept receipt counts no longer follow the receipts")
        kept = {str(s): int(n) for s, n in conn.execute(
            "SELECT state, n FROM receipt_state_counts")}
        counted = {str(s): int(n) for s, n in conn.execute(
            "SELECT state, count(*) FROM receipts GROUP BY state")}
        off = [f"{s} kept {kept.get(s, 0)}, counted {counted.get(s, 0)}"
               for s in sorted(kept.keys() | counted.keys())
               if kept.get(s, 0) != counted.get(s, 0)]
        if off:
            problems.append("receipt_state_counts: the receipt counts kept for the journal "
                            f"stats differ from the receipts ({'; '.join(off)}); the receipts "
                            "themselves are intact, only the stats are wrong. To recount, "
                            f'with receiptd stopped: sqlite3 {journal} "{RECOUNT_SQL}"')
        return problems
    finally:
        if opened:
            conn.execute("COMMIT")


# ---------------------------------------------------------------------------- the daemon's checks
#
# Before READY the daemon runs only ``quick_open``: the header, the schema version and the root
# page of every table and index, read-only (milliseconds whatever the size). The full
# ``PRAGMA integrity_check`` reads every page (seconds at a million receipts), so it runs after
# READY, in the background, one table at a time (``IntegrityCheck``).

_SQLITE_MAGIC = b"SQLite format 3\x00"
_UNTOUCHED = "it was left untouched: move it aside (or restore a backup) and restart"


def _errorname(exc: BaseException) -> str:
    return str(getattr(exc, "sqlite_errorname", "") or "")


def _is_damage(exc: BaseException) -> bool:
    return _errorname(exc).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def probe_roots(conn: sqlite3.Connection) -> int:
    """Read the schema and the root page of every table and index (and the path down to its
    first row): a damaged b-tree page there raises ``sqlite3.DatabaseError`` (SQLITE_CORRUPT).
    Returns how many b-trees were probed. Cost: a few pages each, whatever the journal's size."""
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                        "WHERE rootpage > 0 ORDER BY rootpage").fetchall()
    for kind, name, table, sql in rows:
        if kind == "table":
            conn.execute(f"SELECT * FROM {_ident(name)} NOT INDEXED LIMIT 1").fetchall()
            continue
        where = ""
        text = str(sql or "")
        cut = text.upper().rfind(" WHERE ")
        if cut >= 0:  # a partial index is only used under its own condition
            where = " WHERE " + text[cut + len(" WHERE "):]
        try:
            conn.execute(f"SELECT 1 FROM {_ident(table)} INDEXED BY {_ident(name)}{where} "
                         "LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:
            if _is_damage(exc) or "no query solution" not in str(exc):
                raise
            # An index the planner cannot scan on its own (an expression in its condition):
            # the background check reads it.
    return len(rows)


def quick_open(path: Path, *, latest: int | None = None) -> int | None:
    """The checks that stay before READY, read-only, leaving a damaged file byte-identical:
    the SQLite header, the application id and schema version, the root of every b-tree.
    Returns the schema version found (older than ``latest_version()``: opening the journal
    upgrades it, which may read it whole once), or None when it could not be read here.

    Raises ``JournalCorrupt`` (damaged or not a journal; the ``-wal``/``-shm`` this look
    created are taken away again) or ``JournalUnavailable`` (the disk cannot be read). A file
    that does not exist yet, or is empty, passes: the daemon creates the journal."""
    from receiptd.errors import JournalCorrupt, JournalUnavailable

    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise JournalUnavailable(f"journal {path} cannot be read: {exc.strerror}") from exc
    if not header.startswith(_SQLITE_MAGIC):
        raise JournalCorrupt(f"journal {path} is not a readable SQLite database (its first "
                             f"bytes are not a SQLite header); {_UNTOUCHED}")
    sidecars = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
    absent = [p for p in sidecars if not p.exists()]
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                               isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalUnavailable(f"journal {path} cannot be opened: {exc} "
                                 f"({_errorname(exc)})") from exc
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if app_id not in (0, APPLICATION_ID):
            raise JournalCorrupt(f"journal {path} is another program's SQLite file "
                                 f"(application_id {app_id:#x}); {_UNTOUCHED}")
        newest = latest_version() if latest is None else latest
        if version > newest:
            conn.close()
            return version  # migrate() refuses it with its own message (upgrade receiptd)
        probe_roots(conn)
    except sqlite3.Error as exc:
        conn.close()
        if _errorname(exc).startswith("SQLITE_READONLY"):
            return None  # a WAL to recover needs a writer: not damage; the full check follows
        if _is_damage(exc) or not _errorname(exc):  # no result code: an unreadable file
            _remove_created(absent)
            raise JournalCorrupt(f"journal {path} is damaged: {exc} ({_errorname(exc) or '?'}); "
                                 f"{_UNTOUCHED}") from exc
        raise JournalUnavailable(f"journal {path} cannot be read: {exc} "
                                 f"({_errorname(exc)})") from exc
    except JournalCorrupt:
        conn.close()
        _remove_created(absent)
        raise
    conn.close()
    return version


def _remove_created(absent: list[Path]) -> None:
    """Take away the ``-wal``/``-shm`` a read-only look created (empty, or the shared index)."""
    for p in absent:
        try:
            if p.name.endswith("-shm") or p.stat().st_size == 0:
                p.unlink()
        except OSError:
            pass


class IntegrityCheck:
    """The full ``PRAGMA integrity_check``, one b-tree family at a time: each table with its
    indexes is one chunk, in its own short read transaction on a read-only connection of its
    own, so a checkpoint is held back at most one chunk and the writers never wait (WAL). A
    ``pause_s`` between chunks leaves the disk and the CPU to the submits.

    ``run`` returns the problems found (``[]``: healthy). SQLite's damage codes met while
    reading become problems too; any other SQLite error (the disk cannot be read) is raised."""

    def __init__(self, path: Path, *, pause_s: float = 0.02, max_problems: int = 20) -> None:
        self.path = path
        self.pause_s = pause_s
        self.max_problems = max_problems

    def chunks(self, conn: sqlite3.Connection) -> list[str]:
        """The schema first, then every table by name (each covers its indexes)."""
        tables = [str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return ["sqlite_master", *tables]

    def run(self, *, on_chunk: Callable[[int, int, str], None] | None = None,
            stop: threading.Event | None = None) -> list[str]:
        conn = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
        problems: list[str] = []
        try:
            try:
                chunks = self.chunks(conn)
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise
                return [f"schema: {exc} ({_errorname(exc)})"]
            for done, table in enumerate(chunks):
                if stop is not None and stop.is_set():
                    break
                if on_chunk is not None:
                    on_chunk(done, len(chunks), table)
                left = self.max_problems - len(problems)
                try:
                    rows = conn.execute(
                        f"PRAGMA integrity_check({_ident(table)})").fetchmany(left)
                    found = [str(r[0]) for r in rows if str(r[0]) != "ok"]
                except sqlite3.DatabaseError as exc:
                    if not _is_damage(exc):
                        raise
                    found = [f"{exc} ({_errorname(exc)})"]
                problems += [f"{table}: {p}" for p in found]
                if len(problems) >= self.max_problems:
                    break
                if stop is not None:
                    stop.wait(self.pause_s)
                else:
                    time.sleep(self.pause_s)
        finally:
            conn.close()
        return problems[: self.max_problems]
