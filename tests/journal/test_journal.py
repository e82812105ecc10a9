"""The journal against real SQLite files: transitions, idempotency, crashes, damage, retention."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from receiptd.errors import Conflict, JournalCorrupt, JournalUnavailable, NotFound
from receiptd.journal import MAX_PAGE, Journal, Receipt, format_ts, migrations, parse_ts

from .clocks import T0, Clock

REPO = Path(__file__).resolve().parents[2]


def submit(journal: Journal, **over: Any) -> Receipt:
    args: dict[str, Any] = {
        "printer": "front",
        "kind": "text",
        "content_json": '{"text": "hello"}',
        "rendered": b"\x1b@hello\n\x1dV\x00",
        "profile": "TM-T88V",
        "request_hash": "h1",
        "idempotency_key": None,
        "order_ref": None,
        "submitted_by": "pos",
        "paper_mm": 80.0,
    }
    args.update(over)
    receipt, created = journal.receipts.submit(**args)
    assert created
    return receipt


def printed(journal: Journal, **over: Any) -> Receipt:
    r = submit(journal, **over)
    p = journal.receipts.start_print(r.prints[0].id)
    journal.receipts.finish_print(p.id, confirmation="process_id")
    return journal.receipts.get(r.id)


def raw_count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# -- basics -----------------------------------------------------------------------------------


def test_timestamps_are_iso_utc_milliseconds() -> None:
    t = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone_plus2())
    assert format_ts(t) == "2024-05-01T12:00:00.123Z"
    assert parse_ts("2024-05-01T12:00:00.123Z") == datetime(2024, 5, 1, 12, 0, 0, 123000,
                                                           tzinfo=UTC)
    with pytest.raises(ValueError):
        format_ts(datetime(2024, 5, 1))


def timezone_plus2() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


def test_connection_settings(j: Journal) -> None:
    conn = j.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_connection_belongs_to_its_thread(j: Journal) -> None:
    errors: list[BaseException] = []

    def use() -> None:
        try:
            j.receipts.next_print("front")
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)


def test_closed_journal_refuses_use(path: Path) -> None:
    journal = Journal(path)
    journal.close()
    journal.close()  # idempotent
    with pytest.raises(sqlite3.ProgrammingError):
        journal.receipts.next_print("front")


def test_create_false_needs_an_existing_file(path: Path) -> None:
    with pytest.raises(JournalUnavailable, match="does not exist"):
        Journal(path, create=False)
    assert not path.exists()
    Journal(path).close()
    Journal(path, create=False).close()


# -- submission and idempotency ---------------------------------------------------------------


def test_submit_journals_receipt_and_first_print(j: Journal, clock: Clock) -> None:
    r, created = j.receipts.submit(
        printer="front", kind="document", content_json='{"document": []}', rendered=b"\x00\x01",
        profile="default", request_hash="abc", idempotency_key="k1", order_ref="A-1",
        submitted_by="pos", paper_mm=42.5,
    )
    assert created
    assert (r.state, r.kind, r.printer, r.rendered, r.paper_mm) == (
        "queued", "document", "front", b"\x00\x01", 42.5)
    assert (r.idempotency_key, r.order_ref, r.submitted_by) == ("k1", "A-1", "pos")
    assert r.created_at == T0 and r.printed_at is None and r.copies == 0
    (p,) = r.prints
    assert (p.kind, p.state, p.attempt, p.copy_number, p.receipt_id) == (
        "original", "queued", 1, None, r.id)
    assert not p.needs_marker
    assert j.receipts.get(r.id) == r
    assert j.search.counters("front")["submitted"] == 1


def test_submit_rejects_unknown_kind(j: Journal) -> None:
    with pytest.raises(ValueError):
        submit(j, kind="pdf")


def test_same_key_same_hash_returns_existing_and_inserts_nothing(j: Journal, path: Path) -> None:
    first = submit(j, idempotency_key="order-7", request_hash="h")
    again, created = j.receipts.submit(
        printer="front", kind="text", content_json='{"text": "hello"}', rendered=b"x",
        profile="p", request_hash="h", idempotency_key="order-7", order_ref=None,
        submitted_by=None,
    )
    assert not created and again == first
    assert raw_count(path, "receipts") == 1 and raw_count(path, "prints") == 1
    assert j.search.counters("front")["submitted"] == 1


def test_same_key_other_hash_is_a_conflict(j: Journal, path: Path) -> None:
    submit(j, idempotency_key="order-7", request_hash="h")
    with pytest.raises(Conflict) as err:
        submit(j, idempotency_key="order-7", request_hash="other")
    assert err.value.code == "idempotency_conflict" and err.value.status == 409
    assert raw_count(path, "receipts") == 1


def test_concurrent_submits_with_one_key_make_one_receipt(path: Path) -> None:
    Journal(path).close()
    n = 8
    barrier = threading.Barrier(n)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with Journal(path) as journal:
                barrier.wait()
                r, created = journal.receipts.submit(
                    printer="front", kind="text", content_json="{}", rendered=b"x",
                    profile="p", request_hash="same", idempotency_key="dup", order_ref=None,
                    submitted_by=None,
                )
                with lock:
                    results.append((r.id, created))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({rid for rid, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (n - 1) + [True]
    assert raw_count(path, "receipts") == 1 and raw_count(path, "prints") == 1


def test_concurrent_writers_each_with_own_connection(path: Path) -> None:
    Journal(path).close()
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            with Journal(path) as journal:
                for i in range(25):
                    ids.append(submit(journal, printer=f"p{k}", idempotency_key=f"{k}-{i}").id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 100 and raw_count(path, "prints") == 100


# -- the print transitions --------------------------------------------------------------------


def test_start_and_finish(j: Journal, clock: Clock) -> None:
    r = submit(j)
    p = j.receipts.next_print("front")
    assert p is not None and p.id == r.prints[0].id
    clock.advance(seconds=1)
    started = j.receipts.start_print(p.id)
    assert started.state == "sending" and started.sent_at == T0 + timedelta(seconds=1)
    assert started == j.receipts.get_print(p.id)  # what it answers is what is on disk
    assert j.receipts.get(r.id).state == "printing"
    assert j.receipts.state_of(r.id) == ("printing", r.order_ref)
    assert j.receipts.next_print("front") is None
    clock.advance(seconds=2)
    done = j.receipts.finish_print(p.id, confirmation="process_id")
    assert (done.state, done.outcome, done.confirmation) == (
        "printed", "confirmed by process id", "process_id")
    assert done.finished_at == T0 + timedelta(seconds=3)
    assert done == j.receipts.get_print(p.id)
    after = j.receipts.get(r.id)
    assert after.state == "printed" and after.printed_at == T0 + timedelta(seconds=3)
    c = j.search.counters("front")
    assert c["printed_originals"] == 1 and c["paper_mm"] == 80.0


def test_start_print_conflicts_and_not_found(j: Journal) -> None:
    r = submit(j)
    pid = r.prints[0].id
    j.receipts.start_print(pid)
    with pytest.raises(Conflict) as err:
        j.receipts.start_print(pid)
    assert err.value.code == "not_queued"
    with pytest.raises(NotFound):
        j.receipts.start_print(9999)
    with pytest.raises(NotFound):
        j.receipts.get_print(9999)
    with pytest.raises(NotFound):
        j.receipts.get(9999)


@pytest.mark.parametrize("action", ["finish", "interrupt", "unstart"])
def test_only_a_sending_print_can_end(j: Journal, action: str) -> None:
    pid = submit(j).prints[0].id

    def act() -> object:
        if action == "finish":
            return j.receipts.finish_print(pid, confirmation="status")
        if action == "interrupt":
            return j.receipts.interrupt_print(pid, reason="paper_out")
        return j.receipts.unstart_print(pid, "link down")

    with pytest.raises(Conflict) as err:
        act()
    assert err.value.code == "not_sending"
    j.receipts.start_print(pid)
    j.receipts.finish_print(pid, confirmation="status")
    with pytest.raises(Conflict):
        act()
    assert raw_count(j.path, "prints") == 1


def test_finish_rejects_unknown_confirmation(j: Journal) -> None:
    pid = submit(j).prints[0].id
    j.receipts.start_print(pid)
    with pytest.raises(ValueError):
        j.receipts.finish_print(pid, confirmation="hope")
    assert j.receipts.get_print(pid).state == "sending"


def test_unstart_puts_it_back_as_if_never_sent(j: Journal) -> None:
    r = submit(j)
    pid = r.prints[0].id
    j.receipts.start_print(pid)
    back = j.receipts.unstart_print(pid, "link failed before the first byte")
    assert back.state == "queued" and back.sent_at is None
    assert "link failed" in (back.outcome or "")
    assert j.receipts.get(r.id).state == "queued"
    nxt = j.receipts.next_print("front")
    assert nxt is not None and nxt.id == pid
    assert j.receipts.cancel(r.id, by="admin").state == "cancelled"  # nothing was ever sent


def test_interrupt_creates_exactly_one_retry_and_keeps_receipt_unprinted(j: Journal) -> None:
    r = submit(j)
    pid = r.prints[0].id
    j.receipts.start_print(pid)
    retry = j.receipts.interrupt_print(pid, reason="interrupted: paper_out",
                                       marker="*** REPRINT: interrupted ***")
    assert (retry.kind, retry.state, retry.attempt, retry.retry_of, retry.copy_number) == (
        "interrupted_retry", "queued", 2, pid, None)
    assert retry.marker == "*** REPRINT: interrupted ***" and retry.needs_marker
    old = j.receipts.get_print(pid)
    assert old.state == "interrupted" and old.outcome == "interrupted: paper_out"
    assert old.finished_at is not None
    after = j.receipts.get(r.id)
    assert after.state == "queued" and after.printed_at is None
    assert [p.id for p in after.prints] == [pid, retry.id]
    with pytest.raises(Conflict):
        j.receipts.interrupt_print(pid, reason="again")
    assert raw_count(j.path, "prints") == 2
    # the retry goes out and completes the receipt
    j.receipts.start_print(retry.id)
    assert j.receipts.get(r.id).state == "printing"
    j.receipts.finish_print(retry.id, confirmation="process_id")
    final = j.receipts.get(r.id)
    assert final.state == "printed" and final.copies == 0
    c = j.search.counters("front")
    assert c["interrupted_retries"] == 1 and c["printed_originals"] == 1


def test_next_print_takes_interrupted_retries_first_then_fifo(j: Journal) -> None:
    a, b, c = (submit(j) for _ in range(3))
    other = submit(j, printer="back")
    j.receipts.start_print(a.prints[0].id)
    retry = j.receipts.interrupt_print(a.prints[0].id, reason="cover_open")
    order = []
    while (p := j.receipts.next_print("front")) is not None:
        order.append(p.id)
        j.receipts.start_print(p.id)
        j.receipts.finish_print(p.id, confirmation="process_id")
    assert order == [retry.id, b.prints[0].id, c.prints[0].id]
    nxt = j.receipts.next_print("back")
    assert nxt is not None and nxt.id == other.prints[0].id


def test_recover_in_doubt_in_process(j: Journal) -> None:
    r1, r2, r3 = submit(j), submit(j, printer="back"), submit(j)
    j.receipts.start_print(r1.prints[0].id)
    j.receipts.start_print(r2.prints[0].id)
    retries = j.receipts.recover_in_doubt()
    assert [p.retry_of for p in retries] == [r1.prints[0].id, r2.prints[0].id]
    assert all(p.kind == "interrupted_retry" and p.reason == "daemon restart" for p in retries)
    assert j.receipts.get_print(r1.prints[0].id).outcome == "daemon restart"
    assert j.receipts.get(r3.id).prints == r3.prints
    assert j.receipts.recover_in_doubt() == []
    assert j.search.queue_stats("front").in_doubt == 0


# -- reprints and cancellation ----------------------------------------------------------------


def test_reprint_numbers_copies_and_leaves_receipt_printed(j: Journal) -> None:
    with pytest.raises(NotFound):
        j.receipts.add_reprint(42, requested_by="cashier", reason=None)
    queued = submit(j)
    with pytest.raises(Conflict) as err:
        j.receipts.add_reprint(queued.id, requested_by="cashier", reason=None)
    assert err.value.code == "not_printed"
    r = printed(j)
    first = j.receipts.add_reprint(r.id, requested_by="anna", reason="customer lost it")
    second = j.receipts.add_reprint(r.id, requested_by="anna", reason=None)
    assert (first.kind, first.state, first.copy_number, first.attempt) == (
        "reprint", "queued", 1, 1)
    assert (first.requested_by, first.reason) == ("anna", "customer lost it")
    assert second.copy_number == 2 and first.is_copy
    j.receipts.start_print(first.id)
    assert j.receipts.get(r.id).state == "printed"
    j.receipts.finish_print(first.id, confirmation="process_id")
    got = j.receipts.get(r.id)
    assert got.state == "printed" and got.printed_at == r.printed_at and got.copies == 1
    c = j.search.counters("front")
    assert c["reprints_requested"] == 2 and c["copies_printed"] == 1
    assert c["printed_originals"] == 1 and c["paper_mm"] == 160.0


def test_interrupted_reprint_stays_a_marked_copy(j: Journal) -> None:
    r = printed(j)
    copy = j.receipts.add_reprint(r.id, requested_by=None, reason=None)
    j.receipts.start_print(copy.id)
    retry = j.receipts.interrupt_print(copy.id, reason="paper_out")
    assert (retry.kind, retry.copy_number, retry.attempt) == ("interrupted_retry", 1, 2)
    assert j.receipts.get(r.id).state == "printed"  # reprints never unprint a receipt
    j.receipts.start_print(retry.id)
    j.receipts.finish_print(retry.id, confirmation="status")
    assert j.receipts.get(r.id).copies == 1
    nxt = j.receipts.add_reprint(r.id, requested_by=None, reason=None)
    assert nxt.copy_number == 2


def test_cancel_while_nothing_was_sent(j: Journal) -> None:
    with pytest.raises(NotFound):
        j.receipts.cancel(7, by="admin")
    r = submit(j)
    later = submit(j)
    c = j.receipts.cancel(r.id, by="admin")
    assert c.state == "cancelled" and c.cancelled_by == "admin" and c.cancelled_at == T0
    assert [p.state for p in c.prints] == ["cancelled"]
    assert c.prints[0].outcome == "cancelled by admin"
    assert j.receipts.cancel(r.id, by="admin") == c  # idempotent
    nxt = j.receipts.next_print("front")
    assert nxt is not None and nxt.id == later.prints[0].id
    with pytest.raises(Conflict) as err:
        j.receipts.start_print(r.prints[0].id)
    assert err.value.code == "not_queued"
    with pytest.raises(Conflict) as err:
        j.receipts.add_reprint(r.id, requested_by=None, reason=None)
    assert err.value.code == "not_printed"
    assert j.search.counters("front")["cancelled"] == 1


@pytest.mark.parametrize("stage", ["sending", "interrupted", "printed"])
def test_cancel_refused_once_anything_was_sent(j: Journal, stage: str) -> None:
    r = submit(j)
    pid = r.prints[0].id
    j.receipts.start_print(pid)
    if stage == "interrupted":
        j.receipts.interrupt_print(pid, reason="paper_out")
    elif stage == "printed":
        j.receipts.finish_print(pid, confirmation="process_id")
    before = j.receipts.get(r.id)
    with pytest.raises(Conflict) as err:
        j.receipts.cancel(r.id, by="admin")
    assert err.value.code == "already_sent"
    assert j.receipts.get(r.id) == before


# -- queries ----------------------------------------------------------------------------------


def test_find_receipts_keyset_paging(j: Journal, clock: Clock) -> None:
    ids: dict[str, list[int]] = {"front": [], "back": []}
    for i in range(120):
        printer = "front" if i % 3 else "back"
        ids[printer].append(submit(j, printer=printer, order_ref=f"o{i % 7}").id)
        clock.advance(seconds=1)
    expected = sorted(ids["front"], reverse=True)
    pages: list[list[int]] = []
    before: int | None = None
    while True:
        page = [r.id for r in j.search.find(printer="front", limit=25, before_id=before)]
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert [len(p) for p in pages] == [25, 25, 25, 5]
    assert [i for p in pages for i in p] == expected
    by_order = [r.id for r in j.search.find(order_ref="o3")]
    assert by_order == sorted((i for i in range(1, 121) if (i - 1) % 7 == 3), reverse=True)
    window = j.search.find(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=20))
    assert [r.id for r in window] == list(range(20, 10, -1))
    assert [r.id for r in j.search.find(limit=3)] == [120, 119, 118]
    assert len(j.search.find(limit=10_000)) == 120  # capped at MAX_PAGE, all fit
    assert MAX_PAGE == 500
    pid = j.search.find(limit=1)[0].prints[0].id
    j.receipts.start_print(pid)
    assert [r.id for r in j.search.find(state="printing")] == [120]
    assert [r.id for r in j.search.receipts_for_order("o3")] == sorted(by_order)


def test_find_receipts_every_filter_combination(j: Journal, clock: Clock) -> None:
    made: list[Receipt] = []
    for i in range(40):
        r = submit(j, printer=("front", "back")[i % 2], order_ref=f"o{i % 3}")
        if i % 5 == 0:
            r = j.receipts.cancel(r.id, by=None)
        made.append(r)
        clock.advance(seconds=1)
    values: dict[str, Any] = {
        "printer": "back", "order_ref": "o1", "state": "cancelled",
        "since": T0 + timedelta(seconds=5), "until": T0 + timedelta(seconds=30),
        "before_id": 33,
    }
    names = list(values)
    for mask in range(1 << len(names)):
        kwargs = {n: values[n] for k, n in enumerate(names) if mask >> k & 1}

        def keep(r: Receipt, kw: dict[str, Any] = kwargs) -> bool:
            return ((kw.get("printer") in (None, r.printer))
                    and (kw.get("order_ref") in (None, r.order_ref))
                    and (kw.get("state") in (None, r.state))
                    and ("since" not in kw or r.created_at >= kw["since"])
                    and ("until" not in kw or r.created_at < kw["until"])
                    and ("before_id" not in kw or r.id < kw["before_id"]))

        expected = sorted((r.id for r in made if keep(r)), reverse=True)[:7]
        assert [r.id for r in j.search.find(limit=7, **kwargs)] == expected, kwargs


def test_find_receipts_limit_is_capped(j: Journal) -> None:
    conn = j.conn
    conn.execute("BEGIN")
    for i in range(MAX_PAGE + 20):
        cur = conn.execute(
            "INSERT INTO receipts (printer, state, kind, profile, request_hash, created_at) "
            "VALUES ('front', 'printed', 'text', 'p', 'h', ?)",
            (format_ts(T0 + timedelta(seconds=i)),))
        conn.execute("INSERT INTO receipt_bodies VALUES (?, '{}', x'00')", (cur.lastrowid,))
    conn.execute("COMMIT")
    assert len(j.search.find(limit=10_000)) == MAX_PAGE


def test_last_receipt_skips_cancelled(j: Journal) -> None:
    assert j.search.last_receipt("front") is None
    a = printed(j)
    b = submit(j)
    j.receipts.cancel(b.id, by=None)
    submit(j, printer="back")
    last = j.search.last_receipt("front")
    assert last is not None and last.id == a.id


def test_queue_stats(j: Journal, clock: Clock) -> None:
    assert j.search.queue_stats("front").depth == 0
    a = submit(j)
    clock.advance(seconds=5)
    submit(j)
    submit(j)
    j.receipts.start_print(a.prints[0].id)
    s = j.search.queue_stats("front")
    assert (s.depth, s.in_doubt, s.oldest_queued_at) == (2, 1, T0 + timedelta(seconds=5))


def test_printer_events(j: Journal, clock: Clock) -> None:
    e1 = j.events.record(printer="front", state="paper_out", previous="online",
                         cause="asb", detail={"flags": ["paper_end"]})
    clock.advance(seconds=10)
    j.events.record(printer="back", state="offline", previous="online", cause="silent",
                    detail={})
    e3 = j.events.record(printer="front", state="online", previous="paper_out",
                         cause="asb", detail={})
    assert e1.detail == {"flags": ["paper_end"]} and e1.at == T0
    assert [e.id for e in j.events.list("front")] == [e3.id, e1.id]
    assert len(j.events.list()) == 3
    assert [e.id for e in j.events.list(since=T0 + timedelta(seconds=1))] == [e3.id, e3.id - 1]
    assert [e.id for e in j.events.list(until=T0 + timedelta(seconds=1))] == [e1.id]
    assert [e.id for e in j.events.list(limit=1)] == [e3.id]


def test_printer_event_seq_round_trips_and_old_rows_read_none(path: Path, clock: Clock) -> None:
    # A journal written before the seq column, holding one event.
    db = Database(sqlite3.connect(path, isolation_level=None))
    try:
        assert migrations.migrate(db, applied_at="t", migrations=migrations.MIGRATIONS[:2]) == 2
        db.execute("INSERT INTO printer_events (printer, at, state, previous, cause, detail) "
                   "VALUES ('front', ?, 'online', NULL, NULL, '{}')", [format_ts(T0)])
    finally:
        db.close()
    with Journal(path, clock=clock) as j:
        assert migrations.schema_version(j.conn) == migrations.latest_version()
        (old,) = j.events.list("front")
        assert old.seq is None and old.state == "online"
        assert j.events.last_seq("front") == 0
        seven = j.events.record(printer="front", state="paper_out", previous="online",
                                cause="asb", detail={}, seq=7)
        three = j.events.record(printer="front", state="online", previous="paper_out",
                                cause="asb", detail={}, seq=3)
        none = j.events.record(printer="front", state="offline", previous="online",
                               cause=None, detail={})
        assert (seven.seq, three.seq, none.seq) == (7, 3, None)
        listed = j.events.list("front")
        assert [e.id for e in listed] == [none.id, three.id, seven.id, old.id]  # by id
        assert [e.seq for e in listed] == [None, 3, 7, None]
        assert j.events.last_seq("front") == 7
        assert j.events.last_seq("back") == 0


def test_hot_queries_use_indexes(j: Journal) -> None:
    def plan(sql: str, *params: object) -> str:
        rows = j.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return " | ".join(str(r[-1]) for r in rows)

    nxt = plan("SELECT * FROM prints WHERE printer = ? AND state = 'queued' "
               "ORDER BY (kind != 'interrupted_retry'), id LIMIT 1", "front")
    assert "prints_queue" in nxt and "TEMP B-TREE" not in nxt
    assert "receipts_order_ref" in plan(
        "SELECT * FROM receipts WHERE order_ref = ? ORDER BY id DESC LIMIT 50", "o")
    by_printer = plan("SELECT * FROM receipts INDEXED BY receipts_printer "
                      "WHERE printer = ? AND id < ? ORDER BY id DESC LIMIT 50", "front", 10)
    assert "receipts_printer" in by_printer and "TEMP B-TREE" not in by_printer
    window = plan("SELECT * FROM receipts INDEXED BY receipts_printer_created "
                  "WHERE printer = ? AND created_at >= ? AND created_at < ? "
                  "ORDER BY id DESC LIMIT 50", "front", "a", "b")
    assert "(printer=? AND created_at>? AND created_at<?)" in window
    assert "prints_sending" in plan("SELECT * FROM prints WHERE state = 'sending' ORDER BY id")
    assert "(idempotency_key=?)" in plan("SELECT id FROM receipts WHERE idempotency_key = ?", "k")


# -- retention and maintenance ----------------------------------------------------------------


def test_purge_only_touches_settled_receipts_past_the_limit(j: Journal, clock: Clock) -> None:
    old_printed = printed(j)
    old_cancelled = submit(j)
    j.receipts.cancel(old_cancelled.id, by="admin")
    old_failed = submit(j, failed="told the client it failed")
    old_queued = submit(j)
    old_sending = submit(j)
    j.receipts.start_print(old_sending.prints[0].id)
    old_with_queued_reprint = printed(j)
    j.receipts.add_reprint(old_with_queued_reprint.id, requested_by=None, reason=None)
    old_recent_copy = printed(j)
    j.events.record(printer="front", state="paper_out", previous="online", cause=None,
                    detail={})
    clock.advance(days=40)
    copy = j.receipts.add_reprint(old_recent_copy.id, requested_by=None, reason=None)
    j.receipts.start_print(copy.id)
    j.receipts.finish_print(copy.id, confirmation="process_id")
    new_printed = printed(j)
    recent_event = j.events.record(printer="front", state="online", previous="paper_out",
                                   cause=None, detail={})
    counters_before = j.search.counters("front")

    deleted = j.admin.purge(older_than=clock.now - timedelta(days=30), batch=2)

    assert deleted == 3
    remaining = {r.id for r in j.search.find(limit=500)}
    assert remaining == {old_queued.id, old_sending.id, old_with_queued_reprint.id,
                         old_recent_copy.id, new_printed.id}
    for gone in (old_printed.id, old_cancelled.id, old_failed.id):
        with pytest.raises(NotFound):
            j.receipts.get(gone)
    n_prints = j.conn.execute(
        "SELECT count(*) FROM prints WHERE receipt_id IN (?, ?)",
        (old_printed.id, old_cancelled.id)).fetchone()[0]
    assert n_prints == 0
    assert [e.id for e in j.events.list()] == [recent_event.id]
    assert j.search.counters("front") == counters_before  # counters are monotonic
    assert j.admin.purge(older_than=clock.now - timedelta(days=30)) == 0
    assert j.admin.check() == ["ok"]


def test_purge_by_size_keeps_unsettled(j: Journal, clock: Clock) -> None:
    for _ in range(60):
        printed(j, rendered=os.urandom(4096))
    waiting = submit(j, rendered=os.urandom(4096))
    used_before = j.admin.stats()["page_count"] - j.admin.stats()["freelist_count"]
    page = j.admin.stats()["page_size"]
    deleted = j.admin.purge(older_than=T0 - timedelta(days=1), batch=10,
                            max_bytes=used_before * page // 2)
    assert 0 < deleted < 60
    s = j.admin.stats()
    assert (s["page_count"] - s["freelist_count"]) * page <= used_before * page // 2
    assert j.receipts.get(waiting.id).state == "queued"
    assert j.search.find(limit=1)[0].id == waiting.id
    oldest_left = min(r.id for r in j.search.find(limit=500))
    assert oldest_left == deleted + 1  # oldest first


def test_stats_check_backup(j: Journal, tmp_path: Path) -> None:
    printed(j)
    submit(j)
    s = j.admin.stats()
    assert s["receipts"] == {"queued": 1, "printing": 0, "printed": 1, "cancelled": 0,
                             "held": 0, "failed": 0}
    assert s["schema_version"] == migrations.latest_version()
    assert s["file_bytes"] > 0 and s["page_count"] > 0
    assert j.admin.check() == ["ok"]
    dest = tmp_path / "backup.db"
    j.admin.backup(dest)
    submit(j)  # the source stays writable
    with Journal(dest) as copy:
        assert [r.id for r in copy.search.find()] == [2, 1]
        assert copy.admin.check() == ["ok"]


# -- migrations -------------------------------------------------------------------------------


def test_migration_from_an_empty_file(path: Path) -> None:
    path.write_bytes(b"")
    Journal(path).close()
    db = Database(path)
    try:
        assert {"receipts", "prints", "printer_events", "printer_counters",
                "schema_migrations"} <= set(db.table_names())
        assert db.execute("PRAGMA user_version").fetchone()[0] == migrations.latest_version()
        assert db.execute("PRAGMA application_id").fetchone()[0] == migrations.APPLICATION_ID
        rows = list(db["schema_migrations"].rows)
        assert [(r["version"], r["name"]) for r in rows] == [
            (m.version, m.name) for m in migrations.MIGRATIONS]
        assert rows[0]["name"] == "initial_schema"
        index_names = {i.name for i in db.table("receipts").indexes} | {
            i.name for i in db.table("prints").indexes}
        assert {"receipts_printer", "receipts_state", "receipts_order_ref",
                "receipts_created_at", "prints_queue", "prints_receipt"} <= index_names
    finally:
        db.close()


def test_older_journal_is_migrated_step_by_step(path: Path) -> None:
    Journal(path).close()

    def add_note(db: Database) -> None:
        db.execute("ALTER TABLE receipts ADD COLUMN note TEXT")

    nxt = migrations.latest_version() + 1
    steps = [*migrations.MIGRATIONS, migrations.Migration(nxt, "add_note", add_note)]
    db = Database(sqlite3.connect(path, isolation_level=None))
    try:
        assert migrations.migrate(db, applied_at="t", migrations=steps) == nxt
        assert "note" in db["receipts"].columns_dict
        assert [r["version"] for r in db["schema_migrations"].rows] == list(range(1, nxt + 1))
        assert migrations.migrate(db, applied_at="t", migrations=steps) == nxt  # no-op
    finally:
        db.close()


def test_failing_migration_leaves_no_trace(path: Path) -> None:
    Journal(path).close()

    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    latest = migrations.latest_version()
    steps = [*migrations.MIGRATIONS, migrations.Migration(latest + 1, "broken", broken)]
    db = Database(sqlite3.connect(path, isolation_level=None))
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(db, applied_at="t", migrations=steps)
        assert migrations.schema_version(db.conn) == latest
        assert "half_done" not in db.table_names()
    finally:
        db.close()


def test_newer_journal_is_refused(path: Path) -> None:
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalUnavailable, match="schema version 99"):
        Journal(path)
    assert path.read_bytes() == before


def test_foreign_database_is_refused(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalUnavailable, match="not a receiptd journal"):
        Journal(path)


def test_concurrent_first_open_migrates_once(path: Path) -> None:
    n = 6
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            barrier.wait()
            Journal(path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert raw_count(path, "schema_migrations") == migrations.latest_version()


# -- damage -----------------------------------------------------------------------------------


def test_random_bytes_are_corrupt_and_left_untouched(path: Path) -> None:
    junk = os.urandom(64 * 1024)
    path.write_bytes(junk)
    with pytest.raises(JournalCorrupt, match="left untouched"):
        Journal(path)
    assert path.read_bytes() == junk
    assert not Path(f"{path}-wal").exists()


def test_not_a_database_is_corrupt_even_without_the_check(path: Path) -> None:
    junk = b"definitely not SQLite" * 1000
    path.write_bytes(junk)
    with pytest.raises(JournalCorrupt):
        Journal(path, check=False)
    assert path.read_bytes() == junk


@pytest.mark.parametrize("keep", [0.5, 0.9, 100])
def test_truncated_journal_is_corrupt_and_left_untouched(path: Path, keep: float) -> None:
    with Journal(path) as journal:
        for i in range(200):
            submit(journal, rendered=os.urandom(1500), order_ref=f"o{i}")
    data = path.read_bytes()
    cut = data[: int(len(data) * keep)] if keep < 1 else data[: int(keep)]
    path.write_bytes(cut)
    with pytest.raises(JournalCorrupt):
        Journal(path)
    assert path.read_bytes() == cut


def test_damaged_page_is_corrupt(path: Path) -> None:
    with Journal(path) as journal:
        for _ in range(200):
            submit(journal, rendered=os.urandom(1500))
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 3 : page * 3 + 200] = b"\xff" * 200  # a b-tree page header gets garbage
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        Journal(path)
    assert path.read_bytes() == bytes(data)


# -- the disk says no -------------------------------------------------------------------------


def test_disk_full_is_unavailable_and_nothing_half_written(j: Journal) -> None:
    submit(j)
    pages = j.conn.execute("PRAGMA page_count").fetchone()[0]
    j.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(JournalUnavailable, match="full"):
        for _ in range(100):
            submit(j, rendered=os.urandom(8192))
    n = raw_count(j.path, "receipts")
    assert raw_count(j.path, "prints") == n  # never a receipt without its print
    j.conn.execute("PRAGMA max_page_count = 1000000")
    submit(j)


def test_lock_timeout_is_unavailable(path: Path) -> None:
    Journal(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Journal(path, busy_timeout=0.2) as journal, pytest.raises(JournalUnavailable):
            submit(journal)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextlib.contextmanager
def read_only(target: Path) -> Iterator[None]:
    """Make ``target`` unwritable even for root (immutable attribute) or by mode bits."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        if subprocess.run([chattr, "+i", str(target)], capture_output=True).returncode != 0:
            pytest.skip("filesystem does not support the immutable attribute")
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(target)], check=True)
    else:
        mode = target.stat().st_mode
        target.chmod(0o555 if target.is_dir() else 0o444)
        try:
            yield
        finally:
            target.chmod(mode)


def test_read_only_file_is_unavailable_on_submit(path: Path) -> None:
    with Journal(path) as journal:
        first = submit(journal)
    with read_only(path), Journal(path) as journal:
        assert journal.receipts.get(first.id).id == first.id  # reading still works
        with pytest.raises(JournalUnavailable, match=r"readonly|read-only|unable"):
            submit(journal)


def test_read_only_directory_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "journal.db"
    Journal(path).close()
    # SQLite cannot create the -shm/-wal files: refused at open already (or at the write).
    with read_only(folder), pytest.raises(JournalUnavailable), Journal(path) as journal:
        submit(journal)


def test_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(JournalUnavailable):
        Journal(tmp_path / "nope" / "journal.db")


# -- crashes (real SIGKILL of a real process) -------------------------------------------------


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)


def _kill_after_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()
    return line


CHILD_SUBMIT = """
import sys, time
from receiptd.journal import Journal
j = Journal(sys.argv[1])
r, _ = j.receipts.submit(printer="front", kind="text", content_json='{"text": "x"}',
                         rendered=b"x", profile="p", request_hash="h",
                         idempotency_key=sys.argv[2], order_ref="crash", submitted_by=None)
print(r.id, flush=True)
time.sleep(60)
"""

CHILD_START = """
import sys, time
from receiptd.journal import Journal
j = Journal(sys.argv[1])
p = j.receipts.next_print("front")
j.receipts.start_print(p.id)
print(p.id, flush=True)
time.sleep(60)
"""


def test_acknowledged_submit_survives_sigkill(path: Path) -> None:
    Journal(path).close()
    key = uuid.uuid4().hex
    rid = int(_kill_after_line(_child(CHILD_SUBMIT, str(path), key)))
    with Journal(path) as journal:
        r = journal.receipts.get(rid)
        assert r.idempotency_key == key and r.state == "queued"
        assert [p.state for p in r.prints] == ["queued"]


def test_print_in_doubt_after_sigkill_is_recovered_as_interrupted(path: Path) -> None:
    with Journal(path) as journal:
        r = submit(journal)
        behind = submit(journal)
    pid = int(_kill_after_line(_child(CHILD_START, str(path))))
    assert pid == r.prints[0].id
    with Journal(path) as journal:
        assert journal.receipts.get_print(pid).state == "sending"
        assert journal.search.queue_stats("front").in_doubt == 1
        (retry,) = journal.receipts.recover_in_doubt()
        assert (retry.kind, retry.retry_of, retry.attempt, retry.reason) == (
            "interrupted_retry", pid, 2, "daemon restart")
        old = journal.receipts.get_print(pid)
        assert old.state == "interrupted" and old.outcome == "daemon restart"
        assert journal.receipts.get(r.id).state == "queued"
        nxt = journal.receipts.next_print("front")
        assert nxt is not None and nxt.id == retry.id  # before the receipt queued behind it
        assert journal.receipts.get(behind.id).state == "queued"
        assert journal.admin.check() == ["ok"]
