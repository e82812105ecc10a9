"""Prints that cannot go on by themselves, against real SQLite files: ``held`` after too many
interrupted attempts in a row (until a person's word), ``failed`` when they cannot be made at
all; and the migration that brought those states to journals written before them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from receiptd.errors import Conflict
from receiptd.journal import Journal, Receipt, migrations


@pytest.fixture
def j(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db") as journal:
        yield journal


def submit(journal: Journal, **over: Any) -> Receipt:
    args: dict[str, Any] = {
        "printer": "front", "kind": "text", "content_json": '{"text": "hello"}',
        "rendered": b"\x1b@hello\n", "profile": "TM-T88V", "request_hash": "h",
        "idempotency_key": None, "order_ref": None, "submitted_by": "pos", "paper_mm": 10.0,
    }
    args.update(over)
    return journal.receipts.submit(**args)[0]


def interrupt_next(journal: Journal, limit: int | None) -> int:
    job = journal.receipts.next_print("front")
    assert job is not None
    journal.receipts.start_print(job.id)
    return journal.receipts.interrupt_print(job.id, reason="interrupted: test",
                                            max_attempts=limit).id


def test_the_limit_holds_the_retry_and_the_queue_goes_on(j: Journal) -> None:
    r = submit(j)
    other = submit(j)
    interrupt_next(j, 2)
    held = j.receipts.get_print(interrupt_next(j, 2))
    assert (held.state, held.attempt, held.kind) == ("held", 3, "interrupted_retry")
    assert held.reason is not None and "held after 2 interrupted attempts in a row" in held.reason
    assert j.receipts.get(r.id).state == "held"
    nxt = j.receipts.next_print("front")  # a held print is not taken: the next receipt is
    assert nxt is not None and nxt.receipt_id == other.id
    stats = j.search.queue_stats("front")
    assert (stats.depth, stats.held) == (1, 1)
    assert [p.id for p in j.search.held_prints("front")] == [held.id]
    assert j.search.counters("front")["held"] == 1


def test_release_gives_a_fresh_run_of_attempts(j: Journal) -> None:
    r = submit(j)
    held = j.receipts.get_print(interrupt_next(j, 1))
    assert held.state == "held"
    released = j.receipts.release_held(printer="front", by="recover")
    assert [(p.id, p.state, p.hold_base) for p in released] == [(held.id, "queued", 1)]
    assert j.receipts.get(r.id).state == "queued"
    again = j.receipts.get_print(interrupt_next(j, 1))  # one more attempt, then held again
    assert (again.state, again.attempt) == ("held", 3)
    assert j.receipts.release_held(printer="nobody") == []
    with pytest.raises(ValueError):
        j.receipts.release_held()


def test_a_cashier_reprint_releases_a_held_receipt_instead_of_adding_a_copy(j: Journal) -> None:
    r = submit(j)
    held = interrupt_next(j, 1)
    job = j.receipts.add_reprint(r.id, requested_by="ann (cashier)", reason=None)
    assert (job.id, job.state) == (held, "queued")
    assert job.reason is not None and "released by ann (cashier)" in job.reason
    assert [p.kind for p in j.receipts.get(r.id).prints] == ["original", "interrupted_retry"]
    with pytest.raises(Conflict) as info:  # nothing held any more, and it has not printed
        j.receipts.add_reprint(r.id, requested_by="ann", reason=None)
    assert info.value.code == "not_printed"


def test_a_held_copy_leaves_its_printed_receipt_printed(j: Journal) -> None:
    r = submit(j)
    job = j.receipts.next_print("front")
    assert job is not None
    j.receipts.start_print(job.id)
    j.receipts.finish_print(job.id, confirmation="process_id")
    j.receipts.add_reprint(r.id, requested_by="ann", reason=None)
    held = j.receipts.get_print(interrupt_next(j, 1))
    assert (held.state, held.copy_number) == ("held", 1)
    assert j.receipts.get(r.id).state == "printed"


def test_in_doubt_at_start_counts_against_the_limit(j: Journal) -> None:
    r = submit(j)
    for _ in range(2):
        job = j.receipts.next_print("front")
        assert job is not None
        j.receipts.start_print(job.id)
        retries = j.receipts.recover_in_doubt(max_attempts={"front": 2})
    assert [p.state for p in retries] == ["held"]
    assert j.receipts.get(r.id).state == "held"
    assert j.receipts.recover_in_doubt(printer="front") == []


def test_fail_is_terminal_with_the_reason(j: Journal) -> None:
    r = submit(j)
    job = r.prints[0]
    failed = j.receipts.fail_print(job.id, reason="its bytes are damaged")
    assert (failed.state, failed.outcome) == ("failed", "failed: its bytes are damaged")
    assert j.receipts.get(r.id).state == "failed"
    assert j.receipts.next_print("front") is None
    with pytest.raises(Conflict):
        j.receipts.fail_print(job.id, reason="again")
    assert j.search.counters("front")["failed"] == 1
    assert [p.id for p in j.search.failed_prints("front", since=failed.created_at)] == [job.id]


def test_a_damaged_print_row_fails_instead_of_blocking_the_queue(j: Journal) -> None:
    bad = submit(j)
    good = submit(j)
    with sqlite3.connect(j.path) as db:
        db.execute("UPDATE prints SET created_at = 'not a time' WHERE receipt_id = ?", (bad.id,))
    nxt = j.receipts.next_print("front")
    assert nxt is not None and nxt.receipt_id == good.id
    damaged = j.receipts.get(bad.id)  # still readable, so it can be shown
    assert damaged.state == "failed"
    assert damaged.prints[0].outcome is not None and "damaged" in damaged.prints[0].outcome


def test_a_rendering_that_is_not_bytes_still_loads(j: Journal) -> None:
    r = submit(j)
    with sqlite3.connect(j.path) as db:
        db.execute("UPDATE receipt_bodies SET rendered = 'text' WHERE receipt_id = ?", (r.id,))
    assert j.receipts.get(r.id).rendered == b"text"


def test_a_version_3_journal_keeps_every_row_and_id(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    migrations.migrate(Database(conn), applied_at="t", migrations=migrations.MIGRATIONS[:3])
    insert = ("INSERT INTO receipts (printer, state, kind, content, rendered, profile, "
              "request_hash, created_at) VALUES ('front', ?, 'text', '{}', x'1b40', 'TM-T88V', "
              "'h', '2024-05-01T12:00:00.000Z')")
    for state in ("printed", "queued", "queued"):
        conn.execute(insert, (state,))
    for rid, state in ((1, "printed"), (2, "queued"), (3, "queued")):
        conn.execute("INSERT INTO prints (receipt_id, printer, kind, state, attempt, created_at) "
                     "VALUES (?, 'front', 'original', ?, 1, '2024-05-01T12:00:00.000Z')",
                     (rid, state))
    conn.execute("DELETE FROM receipts WHERE id = 3")  # the newest id must not come back
    conn.close()

    with Journal(path) as j:
        assert migrations.schema_version(j.conn) == migrations.latest_version()
        assert j.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert j.admin.check() == ["ok"]
        assert [r.state for r in (j.receipts.get(1), j.receipts.get(2))] == ["printed", "queued"]
        assert j.receipts.get(2).prints[0].hold_base == 0
        assert submit(j).id == 4
        interrupt_next(j, 1)  # the new states are allowed
        assert j.receipts.get(2).state == "held"
