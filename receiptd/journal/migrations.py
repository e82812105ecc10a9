"""The journal's schema, as code.

Each migration is a function registered with ``@migration(version)``. ``migrate()`` applies the
pending ones in order, each inside the ``BEGIN IMMEDIATE`` transaction that also records it in
``schema_migrations`` and bumps ``PRAGMA user_version`` (the authoritative version: it lives in
the database header, so it commits or rolls back with the migration). A journal written by a
newer receiptd is refused rather than guessed at.

Never edit a released migration: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from receiptd.errors import JournalUnavailable


class Database(Protocol):
    """What a migration uses of its database: the connection, ``execute`` and the table
    names. ``JournalDb`` hands in a plain ``sqlite3`` connection's (``db.SchemaConn``), so
    opening a fresh journal does not import sqlite-utils (2.8 MB of the daemon's memory); a
    ``sqlite_utils.Database`` has them too."""

    @property
    def conn(self) -> sqlite3.Connection: ...

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None,
                ) -> sqlite3.Cursor: ...

    def table_names(self) -> list[str]: ...

#: ``PRAGMA application_id`` of a receiptd journal ("RCPT").
APPLICATION_ID = 0x52435054

MigrationFn = Callable[["Database"], None]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: MigrationFn


MIGRATIONS: list[Migration] = []


def migration(version: int) -> Callable[[MigrationFn], MigrationFn]:
    """Register ``fn`` as the migration to schema ``version`` (1, 2, … without gaps)."""

    def register(fn: MigrationFn) -> MigrationFn:
        expected = MIGRATIONS[-1].version + 1 if MIGRATIONS else 1
        if version != expected:
            raise ValueError(f"migration {fn.__name__}: version {version}, expected {expected}")
        MIGRATIONS.append(Migration(version, fn.__name__, fn))
        return fn

    return register


def _ddl(db: Database, *statements: str) -> None:
    for statement in statements:
        db.execute(statement)


@migration(1)
def initial_schema(db: Database) -> None:
    _ddl(
        db,
        f"PRAGMA application_id = {APPLICATION_ID}",
        """
        CREATE TABLE receipts (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            printer         TEXT NOT NULL,
            state           TEXT NOT NULL
                            CHECK (state IN ('queued', 'printing', 'printed', 'cancelled')),
            kind            TEXT NOT NULL CHECK (kind IN ('document', 'text', 'raw')),
            content         TEXT NOT NULL,
            rendered        BLOB NOT NULL,
            profile         TEXT NOT NULL,
            request_hash    TEXT NOT NULL,
            idempotency_key TEXT UNIQUE,
            order_ref       TEXT,
            submitted_by    TEXT,
            created_at      TEXT NOT NULL,
            printed_at      TEXT,
            paper_mm        REAL,
            cancelled_at    TEXT,
            cancelled_by    TEXT
        )
        """,
        "CREATE INDEX receipts_printer ON receipts (printer, id)",
        "CREATE INDEX receipts_state ON receipts (state, id)",
        "CREATE INDEX receipts_order_ref ON receipts (order_ref, id) WHERE order_ref IS NOT NULL",
        "CREATE INDEX receipts_created_at ON receipts (created_at)",
        "CREATE INDEX receipts_printer_created ON receipts (printer, created_at)",
        """
        CREATE TABLE prints (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            receipt_id   INTEGER NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
            printer      TEXT NOT NULL,
            kind         TEXT NOT NULL
                         CHECK (kind IN ('original', 'interrupted_retry', 'reprint')),
            state        TEXT NOT NULL
                         CHECK (state IN ('queued', 'sending', 'printed', 'interrupted',
                                          'cancelled')),
            attempt      INTEGER NOT NULL CHECK (attempt >= 1),
            copy_number  INTEGER CHECK (copy_number IS NULL OR copy_number >= 1),
            retry_of     INTEGER,
            marker       TEXT,
            requested_by TEXT,
            reason       TEXT,
            created_at   TEXT NOT NULL,
            sent_at      TEXT,
            finished_at  TEXT,
            outcome      TEXT,
            confirmation TEXT CHECK (confirmation IS NULL
                                     OR confirmation IN ('process_id', 'status'))
        )
        """,
        # The spooler's queue: interrupted retries first, then FIFO. The ORDER BY of
        # journal.receipts.next_print() repeats this expression exactly so the index
        # serves it.
        """
        CREATE INDEX prints_queue
            ON prints (printer, state, (kind != 'interrupted_retry'), id)
        """,
        "CREATE INDEX prints_receipt ON prints (receipt_id, id)",
        "CREATE INDEX prints_sending ON prints (id) WHERE state = 'sending'",
        """
        CREATE TABLE printer_events (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            printer  TEXT NOT NULL,
            at       TEXT NOT NULL,
            state    TEXT NOT NULL,
            previous TEXT,
            cause    TEXT,
            detail   TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX printer_events_printer ON printer_events (printer, id)",
        "CREATE INDEX printer_events_at ON printer_events (at)",
        # Monotonic per-printer counters (Prometheus counters must not drop when old
        # receipts are purged). No declared type: integer sums stay integers.
        """
        CREATE TABLE printer_counters (
            printer TEXT NOT NULL,
            name    TEXT NOT NULL,
            value   NOT NULL DEFAULT 0,
            PRIMARY KEY (printer, name)
        ) WITHOUT ROWID
        """,
    )


@migration(2)
def api_tokens(db: Database) -> None:
    # API tokens managed with `receiptctl token`. Only a salted scrypt hash of the secret is
    # stored; `key_id` (public, in the token's prefix) finds the row without trying every hash.
    # Revoked rows stay: receipts name the token that submitted them.
    _ddl(
        db,
        """
        CREATE TABLE api_tokens (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            key_id      TEXT NOT NULL UNIQUE,
            name        TEXT NOT NULL,
            role        TEXT NOT NULL CHECK (role IN ('pos', 'cashier', 'admin')),
            kdf         TEXT NOT NULL,
            salt        BLOB NOT NULL,
            hash        BLOB NOT NULL,
            created_at  TEXT NOT NULL,
            created_by  TEXT,
            revoked_at  TEXT,
            revoked_by  TEXT
        )
        """,
        "CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL",
    )


@migration(3)
def printer_event_seq(db: Database) -> None:
    # The sequence number a printer's state change went out with, so an event in the journal
    # can be matched with the same change seen live. Events recorded before keep NULL.
    _ddl(db, "ALTER TABLE printer_events ADD COLUMN seq INTEGER")


_RECEIPT_COLUMNS = (
    "id, printer, state, kind, content, rendered, profile, request_hash, idempotency_key, "
    "order_ref, submitted_by, created_at, printed_at, paper_mm, cancelled_at, cancelled_by"
)
_RECEIPT_COLUMNS_5 = (
    "id, printer, state, kind, profile, request_hash, idempotency_key, order_ref, "
    "submitted_by, created_at, printed_at, paper_mm, cancelled_at, cancelled_by"
)
_PRINT_COLUMNS = (
    "id, receipt_id, printer, kind, state, attempt, copy_number, retry_of, marker, "
    "requested_by, reason, created_at, sent_at, finished_at, outcome, confirmation"
)


def _rebuild(db: Database, table: str, create: str, columns: str, indexes: Sequence[str]) -> None:
    """SQLite cannot change a CHECK constraint in place: copy the table into a new one (the
    documented way, with foreign keys off: ``migrate`` turns them off around every step),
    keeping the AUTOINCREMENT high-water mark so no id is ever given out twice."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table]).fetchone()
    _ddl(
        db,
        create.format(name=f"{table}_new"),
        f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table}_new RENAME TO {table}",
        *indexes,
    )
    if row is not None:
        db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?",
                   [row[0], table])
        db.execute("INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS "
                   "(SELECT 1 FROM sqlite_sequence WHERE name = ?)", [table, row[0], table])


@migration(4)
def held_and_failed(db: Database) -> None:
    # A print interrupted too many times in a row is ``held`` until a person releases it (it
    # must not loop, feeding paper and starving the queue); one that cannot be printed at all
    # is ``failed``, with the reason, instead of stopping the printer's spooler. Their
    # receipts show the same states. ``hold_base``: attempts before the last release, which
    # no longer count against the limit.
    _rebuild(
        db, "prints",
        """
        CREATE TABLE {name} (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            receipt_id   INTEGER NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
            printer      TEXT NOT NULL,
            kind         TEXT NOT NULL
                         CHECK (kind IN ('original', 'interrupted_retry', 'reprint')),
            state        TEXT NOT NULL
                         CHECK (state IN ('queued', 'sending', 'printed', 'interrupted',
                                          'cancelled', 'held', 'failed')),
            attempt      INTEGER NOT NULL CHECK (attempt >= 1),
            copy_number  INTEGER CHECK (copy_number IS NULL OR copy_number >= 1),
            retry_of     INTEGER,
            marker       TEXT,
            requested_by TEXT,
            reason       TEXT,
            created_at   TEXT NOT NULL,
            sent_at      TEXT,
            finished_at  TEXT,
            outcome      TEXT,
            confirmation TEXT CHECK (confirmation IS NULL
                                     OR confirmation IN ('process_id', 'status')),
            hold_base    INTEGER NOT NULL DEFAULT 0 CHECK (hold_base >= 0)
        )
        """,
        _PRINT_COLUMNS,
        [
            # next_print()'s ORDER BY repeats this expression exactly (see migration 1).
            "CREATE INDEX prints_queue "
            "ON prints (printer, state, (kind != 'interrupted_retry'), id)",
            "CREATE INDEX prints_receipt ON prints (receipt_id, id)",
            "CREATE INDEX prints_sending ON prints (id) WHERE state = 'sending'",
            "CREATE INDEX prints_held ON prints (printer, id) WHERE state = 'held'",
            "CREATE INDEX prints_failed ON prints (printer, finished_at) WHERE state = 'failed'",
        ],
    )
    _rebuild(
        db, "receipts",
        """
        CREATE TABLE {name} (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            printer         TEXT NOT NULL,
            state           TEXT NOT NULL
                            CHECK (state IN ('queued', 'printing', 'printed', 'cancelled',
                                             'held', 'failed')),
            kind            TEXT NOT NULL CHECK (kind IN ('document', 'text', 'raw')),
            content         TEXT NOT NULL,
            rendered        BLOB NOT NULL,
            profile         TEXT NOT NULL,
            request_hash    TEXT NOT NULL,
            idempotency_key TEXT UNIQUE,
            order_ref       TEXT,
            submitted_by    TEXT,
            created_at      TEXT NOT NULL,
            printed_at      TEXT,
            paper_mm        REAL,
            cancelled_at    TEXT,
            cancelled_by    TEXT
        )
        """,
        _RECEIPT_COLUMNS,
        [
            "CREATE INDEX receipts_printer ON receipts (printer, id)",
            "CREATE INDEX receipts_state ON receipts (state, id)",
            "CREATE INDEX receipts_order_ref ON receipts (order_ref, id) "
            "WHERE order_ref IS NOT NULL",
            "CREATE INDEX receipts_created_at ON receipts (created_at)",
            "CREATE INDEX receipts_printer_created ON receipts (printer, created_at)",
        ],
    )
    broken = db.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise JournalUnavailable(f"journal migration found dangling rows: {broken[:5]}")


@migration(5)
def bodies_apart(db: Database) -> None:
    # A receipt's content and rendered bytes are written once, in a table of their own: a
    # state change then rewrites a row of a hundred bytes, not the receipt (250 KB for a
    # big raw one), so the WAL a print writes stays small and the disk reserve that admitted
    # a receipt covers printing it. ``source``: the door it came in by (api, virtual_port,
    # epos, cups), ``source_detail`` what that door recorded (JSON: peer, dropped commands).
    _ddl(
        db,
        """
        CREATE TABLE receipt_bodies (
            receipt_id INTEGER PRIMARY KEY REFERENCES receipts (id) ON DELETE CASCADE,
            content    TEXT NOT NULL,
            rendered   BLOB NOT NULL
        )
        """,
        "INSERT INTO receipt_bodies (receipt_id, content, rendered) "
        "SELECT id, content, rendered FROM receipts",
    )
    _rebuild(
        db, "receipts",
        """
        CREATE TABLE {name} (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            printer         TEXT NOT NULL,
            state           TEXT NOT NULL
                            CHECK (state IN ('queued', 'printing', 'printed', 'cancelled',
                                             'held', 'failed')),
            kind            TEXT NOT NULL CHECK (kind IN ('document', 'text', 'raw')),
            profile         TEXT NOT NULL,
            request_hash    TEXT NOT NULL,
            idempotency_key TEXT UNIQUE,
            order_ref       TEXT,
            submitted_by    TEXT,
            created_at      TEXT NOT NULL,
            printed_at      TEXT,
            paper_mm        REAL,
            cancelled_at    TEXT,
            cancelled_by    TEXT,
            source          TEXT NOT NULL DEFAULT 'api',
            source_detail   TEXT
        )
        """,
        _RECEIPT_COLUMNS_5,
        [
            "CREATE INDEX receipts_printer ON receipts (printer, id)",
            "CREATE INDEX receipts_state ON receipts (state, id)",
            "CREATE INDEX receipts_order_ref ON receipts (order_ref, id) "
            "WHERE order_ref IS NOT NULL",
            "CREATE INDEX receipts_created_at ON receipts (created_at)",
            "CREATE INDEX receipts_printer_created ON receipts (printer, created_at)",
            "CREATE INDEX receipts_source ON receipts (source, id)",
        ],
    )
    broken = db.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise JournalUnavailable(f"journal migration found dangling rows: {broken[:5]}")


_TOKEN_COLUMNS = (
    "id, key_id, name, role, kdf, salt, hash, created_at, created_by, revoked_at, revoked_by"
)


@migration(6)
def metrics_role(db: Database) -> None:
    # A ``metrics`` token (a Prometheus server's) may read /metrics and nothing else: the role
    # CHECK of migration 2 must take it before one can be stored.
    _rebuild(
        db, "api_tokens",
        """
        CREATE TABLE {name} (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            key_id      TEXT NOT NULL UNIQUE,
            name        TEXT NOT NULL,
            role        TEXT NOT NULL CHECK (role IN ('metrics', 'pos', 'cashier', 'admin')),
            kdf         TEXT NOT NULL,
            salt        BLOB NOT NULL,
            hash        BLOB NOT NULL,
            created_at  TEXT NOT NULL,
            created_by  TEXT,
            revoked_at  TEXT,
            revoked_by  TEXT
        )
        """,
        _TOKEN_COLUMNS,
        ["CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) "
         "WHERE revoked_at IS NULL"],
    )


#: The triggers on ``receipts`` that keep ``receipt_state_counts`` exact (migration 7).
STATE_COUNT_TRIGGERS = ("receipts_count_insert", "receipts_count_update", "receipts_count_delete")


def _state_count_triggers(db: Database) -> None:
    """The triggers on ``receipts`` that keep ``receipt_state_counts``. Dropping ``receipts``
    drops them: a later migration that rebuilds the table must call this again after it."""
    bump = ("INSERT INTO receipt_state_counts (state, n) VALUES (NEW.state, 1) "
            "ON CONFLICT (state) DO UPDATE SET n = n + 1;")
    drop = "UPDATE receipt_state_counts SET n = n - 1 WHERE state = OLD.state;"
    insert, update, delete = STATE_COUNT_TRIGGERS
    _ddl(
        db,
        f"CREATE TRIGGER {insert} AFTER INSERT ON receipts BEGIN {bump} END",
        f"CREATE TRIGGER {update} AFTER UPDATE OF state ON receipts "
        f"WHEN OLD.state IS NOT NEW.state BEGIN {drop} {bump} END",
        f"CREATE TRIGGER {delete} AFTER DELETE ON receipts BEGIN {drop} END",
    )


@migration(7)
def receipt_state_counts(db: Database) -> None:
    # The receipts now in the journal by state, kept exact in every transaction that changes
    # one (triggers: every writer keeps them, even one that does not know about them), so the
    # admin's stats read six rows instead of counting millions. Not printer_counters: those
    # are monotonic and survive a purge, these drop when a purge deletes. One tiny table of
    # one page: a commit writes one page more. Filled here in one pass over the state index.
    _ddl(
        db,
        """
        CREATE TABLE receipt_state_counts (
            state TEXT PRIMARY KEY,
            n     INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
        "INSERT INTO receipt_state_counts (state, n) "
        "SELECT state, count(*) FROM receipts INDEXED BY receipts_state GROUP BY state",
        # Every state of the receipts CHECK has its row, so the hot path only updates.
        "INSERT OR IGNORE INTO receipt_state_counts (state, n) VALUES "
        "('queued', 0), ('printing', 0), ('printed', 0), ('cancelled', 0), ('held', 0), "
        "('failed', 0)",
    )
    _state_count_triggers(db)


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _check_version(current: int, latest: int, where: str) -> None:
    if current > latest:
        raise JournalUnavailable(
            f"journal {where} has schema version {current}, newer than this receiptd "
            f"understands ({latest}); upgrade receiptd, or move the journal aside"
        )


def _check_foreign(db: Database, where: str) -> None:
    """A version-0 database that already holds tables is someone else's file: leave it."""
    app_id = int(db.conn.execute("PRAGMA application_id").fetchone()[0])
    tables = [t for t in db.table_names() if t != "sqlite_sequence"]
    if app_id not in (0, APPLICATION_ID) or tables:
        raise JournalUnavailable(
            f"{where} is a SQLite database but not a receiptd journal "
            f"(application_id {app_id:#x}, tables {tables[:5]}); refusing to touch it"
        )


def migrate(
    db: Database,
    *,
    applied_at: str,
    where: str = "",
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the schema to the newest version; returns it. Safe against concurrent openers."""
    latest = latest_version(migrations)
    current = schema_version(db.conn)
    _check_version(current, latest, where)
    if current == latest:
        return current  # the common case takes no write lock
    conn = db.conn
    # A table rebuild drops the old table: with foreign keys on, that would delete every
    # print with its receipt. The pragma cannot change inside a transaction: set it here.
    foreign_keys = int(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        return _apply(db, current, latest, where, applied_at, migrations)
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")


def _apply(db: Database, current: int, latest: int, where: str, applied_at: str,
           migrations: Sequence[Migration]) -> int:
    conn = db.conn
    for step in migrations:
        if step.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another thread may have migrated meanwhile.
            current = schema_version(conn)
            _check_version(current, latest, where)
            if current >= step.version:
                conn.execute("COMMIT")
                continue
            if current == 0:
                _check_foreign(db, where)
            step.apply(db)
            db.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER PRIMARY KEY,
                    name       TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                )
                """
            )
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, applied_at),
            )
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
            current = step.version
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return current
