"""The receipts by state that the journal keeps itself (``receipt_state_counts``, triggers on
``receipts``): what the admin's stats read instead of counting the journal. Against real
SQLite files, each count compared with a real ``count(*)`` after every change."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from receiptd.errors import Conflict, NotFound
from receiptd.journal import Journal, Receipt, format_ts, migrations
from receiptd.journal.check import EXIT_OK, RECOUNT_SQL, check, quick_open
from receiptd.journal.receipts import NewReceipt
from receiptd.journal.records import RECEIPT_STATES

from .clocks import T0, Clock


def fields(printer: str = "front", **over: Any) -> dict[str, Any]:
    return {"printer": printer, "kind": "text", "content_json": '{"text": "hi"}',
            "rendered": b"\x1b@hi\n", "profile": "TM-T88V", "request_hash": "h",
            "idempotency_key": None, "order_ref": None, "submitted_by": "pos",
            "paper_mm": 10.0, **over}


def submit(journal: Journal, **over: Any) -> Receipt:
    return journal.receipts.submit(**fields(**over))[0]


def counted(conn: sqlite3.Connection) -> dict[str, int]:
    """The truth: every state of RECEIPT_STATES, zeros included, by a real count."""
    out = dict.fromkeys(RECEIPT_STATES, 0)
    for state, n in conn.execute("SELECT state, count(*) FROM receipts GROUP BY state"):
        out[state] = n
    return out


def kept(journal: Journal) -> dict[str, int]:
    """What the admin's stats answer."""
    receipts = journal.admin.stats()["receipts"]
    assert list(receipts) == list(RECEIPT_STATES)  # the answer's shape, in its order
    return dict(receipts)


def expect(journal: Journal, **nonzero: int) -> None:
    want = {s: nonzero.get(s, 0) for s in RECEIPT_STATES}
    assert counted(journal.conn) == want
    assert kept(journal) == want


def send(journal: Journal, printer: str = "front") -> int:
    job = journal.receipts.next_print(printer)
    assert job is not None
    return journal.receipts.start_print(job.id).id


def test_a_new_journal_keeps_a_zero_for_every_state(j: Journal) -> None:
    assert kept(j) == dict.fromkeys(RECEIPT_STATES, 0)
    rows = dict(j.conn.execute("SELECT state, n FROM receipt_state_counts"))
    assert rows == dict.fromkeys(RECEIPT_STATES, 0)
    assert j.admin.check() == ["ok"]


def test_every_transition_moves_one_receipt_between_the_counts(j: Journal,
                                                                clock: Clock) -> None:
    a = submit(j)
    expect(j, queued=1)
    sending = send(j)
    expect(j, printing=1)
    j.receipts.finish_print(sending, confirmation="process_id")
    expect(j, printed=1)
    copy = j.receipts.add_reprint(a.id, requested_by="ann", reason=None)  # a copy: no move
    j.receipts.finish_print(j.receipts.start_print(copy.id).id, confirmation="status")
    expect(j, printed=1)

    b = submit(j)
    expect(j, queued=1, printed=1)
    j.receipts.unstart_print(send(j), reason="link down before byte one")
    expect(j, queued=1, printed=1)
    j.receipts.interrupt_print(send(j), reason="cover opened", max_attempts=2)  # requeued
    expect(j, queued=1, printed=1)
    held = j.receipts.interrupt_print(send(j), reason="cover opened", max_attempts=2)
    assert held.state == "held"
    expect(j, held=1, printed=1)
    j.receipts.release_held(receipt_id=b.id, by="ann")
    expect(j, queued=1, printed=1)
    j.receipts.finish_print(send(j), confirmation="process_id")
    expect(j, printed=2)

    c = submit(j)
    j.receipts.fail_print(c.prints[0].id, reason="cannot render")
    expect(j, printed=2, failed=1)
    d = submit(j)
    j.receipts.cancel(d.id, by="ann")
    j.receipts.cancel(d.id, by="ann")  # idempotent: counted once
    expect(j, printed=2, failed=1, cancelled=1)
    submit(j, failed="reported failed to the client")  # journaled failed at once
    expect(j, printed=2, failed=2, cancelled=1)

    e = submit(j)
    send(j)
    with pytest.raises(Conflict):  # refused: the transaction changed nothing, counts neither
        j.receipts.cancel(e.id, by="ann")
    expect(j, printing=1, printed=2, failed=2, cancelled=1)
    j.receipts.recover_in_doubt(reason="daemon restart")
    expect(j, queued=1, printed=2, failed=2, cancelled=1)
    clock.now += timedelta(minutes=10)
    j.receipts.hold_stale("front", queued_before=clock.now, reason="waited through a fault")
    expect(j, held=1, printed=2, failed=2, cancelled=1)
    assert j.receipts.fail_unsent(e.id, reason="the client gave up") is not None
    expect(j, printed=2, failed=3, cancelled=1)

    counters = j.search.counters("front")
    clock.now += timedelta(days=60)
    waiting = submit(j)
    assert j.admin.purge(older_than=clock.now - timedelta(days=30), batch=2) == 6
    expect(j, queued=1)  # the purge lowered what it deleted
    assert j.search.counters("front") == counters | {"submitted": counters["submitted"] + 1}
    j.receipts.cancel(waiting.id, by=None)
    expect(j, cancelled=1)
    assert j.admin.check() == ["ok"]


def test_a_replay_and_a_batch_count_what_they_inserted(j: Journal) -> None:
    first = submit(j, idempotency_key="k1")
    again, created = j.receipts.submit(**fields(idempotency_key="k1"))
    assert (again.id, created) == (first.id, False)
    expect(j, queued=1)
    out = j.receipts.submit_many([
        NewReceipt(**fields(idempotency_key="k2")),
        NewReceipt(**fields(idempotency_key="k1")),  # a replay: nothing new
        NewReceipt(**fields(idempotency_key="k1", request_hash="other")),  # a conflict
        NewReceipt(**fields(failed="told the client it failed")),
    ])
    assert isinstance(out[2], Conflict)
    expect(j, queued=2, failed=1)


def test_any_writer_keeps_them_even_raw_sql(j: Journal) -> None:
    for _ in range(3):
        submit(j)
    with sqlite3.connect(j.path) as other:  # another connection that knows nothing of them
        other.execute("UPDATE receipts SET state = 'printed' WHERE id = 1")
        other.execute("UPDATE receipts SET printed_at = 'x' WHERE id = 1")  # not the state
        other.execute("UPDATE receipts SET state = state WHERE id = 2")  # the same state
        other.execute("DELETE FROM receipts WHERE id = 3")
    other.close()
    expect(j, queued=1, printed=1)


def test_writers_on_many_connections_at_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal(path).close()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with Journal(path) as mine:
                for i in range(25):
                    r = submit(mine, printer=f"p{n}")
                    if i % 5 == 0:
                        mine.receipts.cancel(r.id, by=None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and errors == []
    with Journal(path) as j:
        expect(j, queued=80, cancelled=20)


def test_the_admin_check_finds_counts_that_drifted_and_the_recount_mends_them(
    j: Journal,
) -> None:
    submit(j)
    submit(j)
    j.conn.execute("UPDATE receipt_state_counts SET n = n + 5 WHERE state = 'printed'")
    problems = j.admin.check()
    assert len(problems) == 1, problems
    assert "printed kept 5, counted 0" in problems[0]
    assert "the receipts themselves are intact" in problems[0]
    assert f'sqlite3 {j.path} "{RECOUNT_SQL}"' in problems[0]
    _, report = check(j.path)
    assert "WARNING: receipt_state_counts" in report and "printed kept 5" in report

    j.conn.execute(RECOUNT_SQL)
    assert j.admin.check() == ["ok"]
    expect(j, queued=2)
    code, report = check(j.path)
    assert code == EXIT_OK and "receipt counts kept for the stats: agree" in report


def test_the_admin_check_finds_a_missing_trigger(j: Journal) -> None:
    j.conn.execute("DROP TRIGGER receipts_count_delete")
    problems = j.admin.check()
    assert any("trigger receipts_count_delete missing" in p for p in problems), problems


def build_previous_version(path: Path) -> dict[str, int]:
    """A journal of the schema before the kept counts, with receipts in several states
    written as that version wrote them; returns the real count by state."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    previous = migrations.MIGRATIONS[:-1]
    assert migrations.migrate(Database(conn), applied_at="t", migrations=previous) == \
        migrations.latest_version() - 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                        ).fetchone()[0] == 0
    states = ["printed"] * 7 + ["queued"] * 3 + ["held"] * 2 + ["failed", "cancelled",
                                                                 "printing"]
    for i, state in enumerate(states):
        rid = conn.execute(
            "INSERT INTO receipts (printer, state, kind, profile, request_hash, created_at) "
            "VALUES ('front', ?, 'text', 'TM-T88V', 'h', ?)",
            (state, format_ts(T0 + timedelta(seconds=i)))).lastrowid
        conn.execute("INSERT INTO receipt_bodies (receipt_id, content, rendered) "
                     "VALUES (?, '{\"text\": \"x\"}', x'1b40')", (rid,))
        print_state = {"printing": "sending"}.get(state, state)
        conn.execute("INSERT INTO prints (receipt_id, printer, kind, state, attempt, created_at) "
                     "VALUES (?, 'front', 'original', ?, 1, ?)",
                     (rid, print_state, format_ts(T0 + timedelta(seconds=i))))
    truth = counted(conn)
    conn.close()
    return truth


def test_the_upgrade_counts_a_journal_of_the_previous_version(tmp_path: Path,
                                                              clock: Clock) -> None:
    path = tmp_path / "previous.db"
    truth = build_previous_version(path)
    assert truth == {"queued": 3, "printing": 1, "printed": 7, "cancelled": 1, "held": 2,
                     "failed": 1}
    code, report = check(path)  # nothing kept yet: nothing to compare, and no complaint
    assert code == EXIT_OK and "receipt counts kept" not in report, report

    with Journal(path, clock=clock) as j:
        assert migrations.schema_version(j.conn) == migrations.latest_version()
        assert kept(j) == truth
        assert j.admin.check() == ["ok"]
        applied = j.conn.execute("SELECT name FROM schema_migrations WHERE version = ?",
                                 (migrations.latest_version(),)).fetchone()
        assert applied == ("receipt_state_counts",)
        # From the upgrade on, the triggers keep them.
        j.receipts.recover_in_doubt(reason="daemon restart")  # the printing one requeues
        submit(j)
        expect(j, queued=5, printed=7, cancelled=1, held=2, failed=1)


def test_the_look_before_ready_tells_an_upgrade_is_due(tmp_path: Path) -> None:
    """The upgrade counts the journal once, before READY: the daemon can see it coming (and
    ask systemd for the time) from the version its read-only look found."""
    path = tmp_path / "previous.db"
    assert quick_open(path) is None  # no journal yet: a new one needs no upgrade
    build_previous_version(path)
    assert quick_open(path) == migrations.latest_version() - 1
    Journal(path).close()
    assert quick_open(path) == migrations.latest_version()


def test_the_newest_schema_has_every_counting_trigger(tmp_path: Path) -> None:
    """A later migration that rebuilds ``receipts`` drops its triggers: it must make them
    again (``migrations._state_count_triggers``)."""
    with Journal(tmp_path / "journal.db") as j:
        triggers = {r[0] for r in j.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'receipts'")}
    assert set(migrations.STATE_COUNT_TRIGGERS) <= triggers


def test_random_operations_keep_the_counts_exact(j: Journal, clock: Clock) -> None:
    rng = random.Random(20261203)
    printers = ("front", "bar")

    def some_receipt() -> int:
        ids = [int(r[0]) for r in j.conn.execute("SELECT id FROM receipts")]
        return rng.choice(ids) if ids else 1

    def some_print(state: str) -> int | None:
        ids = [int(r[0]) for r in j.conn.execute("SELECT id FROM prints WHERE state = ?",
                                                 (state,))]
        return rng.choice(ids) if ids else None

    def do_submit() -> None:
        submit(j, printer=rng.choice(printers),
               idempotency_key=rng.choice([None, f"k{rng.randrange(20)}"]))

    def do_batch() -> None:
        j.receipts.submit_many([NewReceipt(**fields(printer=rng.choice(printers)))
                                for _ in range(rng.randrange(1, 4))])

    def do_start() -> None:
        job = j.receipts.next_print(rng.choice(printers))
        if job is not None:
            j.receipts.start_print(job.id)

    def on_sending(action: Callable[[int], object]) -> Callable[[], None]:
        def step() -> None:
            p = some_print("sending")
            if p is not None:
                action(p)
        return step

    def do_fail() -> None:
        p = some_print(rng.choice(["queued", "held", "sending"]))
        if p is not None:
            j.receipts.fail_print(p, reason="cannot render")

    def do_purge() -> None:
        j.admin.purge(older_than=clock.now - timedelta(minutes=rng.randrange(30)), batch=3)

    def do_raw() -> None:  # a door that knows nothing of the counts
        state = rng.choice(RECEIPT_STATES)
        j.conn.execute("UPDATE receipts SET state = ? WHERE id = ?", (state, some_receipt()))

    operations: list[Callable[[], object]] = [
        do_submit, do_submit, do_submit, do_batch, do_start, do_start,
        on_sending(lambda p: j.receipts.finish_print(p, confirmation="process_id")),
        on_sending(lambda p: j.receipts.interrupt_print(p, reason="cover", max_attempts=2)),
        on_sending(lambda p: j.receipts.unstart_print(p, reason="link down")),
        do_fail, do_purge, do_raw,
        lambda: j.receipts.cancel(some_receipt(), by="ann"),
        lambda: j.receipts.add_reprint(some_receipt(), requested_by="ann", reason=None),
        lambda: j.receipts.release_held(printer=rng.choice(printers), by="ann"),
        lambda: j.receipts.fail_unsent(some_receipt(), reason="the client gave up"),
        lambda: j.receipts.recover_in_doubt(printer=rng.choice(printers)),
        lambda: j.receipts.hold_stale(rng.choice(printers), queued_before=clock.now,
                                      reason="fault"),
    ]
    seen: set[str] = set()
    for _ in range(600):
        clock.now += timedelta(minutes=rng.randrange(3))
        with contextlib.suppress(Conflict, NotFound):  # a refusal changes nothing
            rng.choice(operations)()
        truth = counted(j.conn)
        assert kept(j) == truth
        seen |= {s for s, n in truth.items() if n}
    assert seen == set(RECEIPT_STATES)  # every state was reached on the way
    assert j.admin.check() == ["ok"]
