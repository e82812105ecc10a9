"""Migration 6: the api_tokens role CHECK takes ``metrics`` (a Prometheus server's token), and
a journal written before it keeps its tokens, their ids and the AUTOINCREMENT high-water mark."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from receiptd.journal import Journal, migrations

INSERT = "INSERT INTO api_tokens (key_id, name, role, kdf, salt, hash, created_at)"
WHEN = "2026-12-01T10:00:00.000Z"


def _add(journal: Journal, name: str, role: str, key_id: str) -> int:
    return journal.tokens.add(key_id=key_id, name=name, role=role, kdf="scrypt:test",
                              salt=b"s" * 16, digest=b"h" * 32, created_by="test").id


def test_a_journal_from_before_the_metrics_role_takes_it_and_keeps_its_tokens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    db = Database(sqlite3.connect(path, isolation_level=None))
    try:
        migrations.migrate(db, applied_at="t", migrations=migrations.MIGRATIONS[:5])
        db.execute(f"{INSERT} VALUES ('aaaaaaaaaaaa', 'till-1', 'pos', 'k', x'00', x'00', ?)",
                   [WHEN])
        db.execute("DELETE FROM api_tokens")  # the high-water mark must survive the rebuild
        db.execute(f"{INSERT} VALUES ('bbbbbbbbbbbb', 'anna', 'cashier', 'k', x'00', x'00', ?)",
                   [WHEN])
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO api_tokens (key_id, name, role, kdf, salt, hash, "
                       "created_at) VALUES ('cccccccccccc', 'p', 'metrics', 'k', x'', x'', 't')")
    finally:
        db.close()

    with Journal(path) as journal:
        assert migrations.schema_version(journal.conn) == migrations.latest_version() >= 6
        assert [(t.name, t.role, t.id) for t in journal.tokens.list()] == [("anna", "cashier", 2)]
        assert _add(journal, "prometheus", "metrics", "dddddddddddd") == 3
        with pytest.raises(sqlite3.IntegrityError):
            journal.conn.execute(
                "INSERT INTO api_tokens (key_id, name, role, kdf, salt, hash, created_at) "
                "VALUES ('eeeeeeeeeeee', 'x', 'owner', 'k', x'', x'', 't')")
        # The partial unique index came back: one active token per name.
        with pytest.raises(sqlite3.IntegrityError):
            journal.conn.execute(
                "INSERT INTO api_tokens (key_id, name, role, kdf, salt, hash, created_at) "
                "VALUES ('ffffffffffff', 'anna', 'pos', 'k', x'', x'', 't')")
