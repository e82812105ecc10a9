"""``ReceiptStore.submit_many``: the API's writer journals what arrived together in one
durable commit, and each receipt gets what ``submit`` alone would have given it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receiptd.errors import Conflict, JournalUnavailable
from receiptd.journal import Journal
from receiptd.journal.groupcommit import group_for
from receiptd.journal.receipts import NewReceipt


def new(key: str | None, request_hash: str = "h", **over: Any) -> NewReceipt:
    fields: dict[str, Any] = {
        "printer": "front", "kind": "text", "content_json": f'{{"text": "{key}"}}',
        "rendered": b"\x1b@" + (key or "").encode(), "profile": "TM-T88V",
        "request_hash": request_hash, "idempotency_key": key, "order_ref": key,
        "submitted_by": "till-1", "paper_mm": 42.0, **over}
    return NewReceipt(**fields)


def test_one_commit_for_all_and_each_its_own_outcome(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as j:
        first, _ = j.receipts.submit(**vars(new("a")))
        group = group_for(path)
        batches = group.batches
        out = j.receipts.submit_many([
            new("b"), new("a"), new("a", request_hash="other"), new(None, source="doctor")])
        assert group.batches == batches + 1  # one transaction, one fsync
        b, replay, conflict, test_print = out
        assert isinstance(b, tuple) and b[1] is True
        assert b[0].state == "queued" and b[0].prints[0].state == "queued"
        assert (b[0].order_ref, b[0].submitted_by, b[0].paper_mm) == ("b", "till-1", 42.0)
        assert replay == (first, False)  # the same receipt, nothing inserted
        assert isinstance(conflict, Conflict) and conflict.code == "idempotency_conflict"
        assert isinstance(test_print, tuple) and test_print[0].source == "doctor"
        # What submit_many returned is what the journal holds.
        assert j.receipts.get(b[0].id) == b[0]
        assert j.conn.execute("SELECT count(*) FROM receipts").fetchone()[0] == 3


def test_a_journal_that_cannot_write_fails_every_receipt_of_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal(path).close()
    with Journal(path) as j:
        j.conn.execute("PRAGMA query_only = ON")  # every write refused, as a read-only disk
        out = j.receipts.submit_many([new("x"), new("y")])
    assert all(isinstance(o, JournalUnavailable) for o in out)


def test_the_receipt_answered_is_the_one_read_back(tmp_path: Path) -> None:
    """A new receipt is answered from what its inserts wrote, not read again: it must equal,
    field for field and print for print, what the journal gives back once committed, for
    every kind of submission (raw packed against its rendering, a door's detail, no paper
    estimate, no key, a test print, one journaled failed)."""
    raw = '{"raw": "G0BIZWxsbw=="}'  # packed, and given back compactly written
    cases = [
        new("plain"),
        new(None, order_ref=None, submitted_by=None, paper_mm=None),
        new("int-paper", paper_mm=40),
        new("raw", kind="raw", content_json=raw, rendered=b"\x1b@\x1b@Hello"),
        new("raw-unpacked", kind="raw", content_json=raw, rendered=b"\x1b@other"),
        new("detail", source="virtual_port",
            source_detail={"peer": "127.0.0.1", "dropped": {"ESC p": 2}, "list": (1, 2)}),
        new("doctor", source="doctor"),
        new("failed", failed="the client was told it failed"),
    ]
    with Journal(tmp_path / "journal.db") as j:
        answered = [j.receipts.submit(**vars(case))[0] for case in cases]
        answered += [out[0] for out in j.receipts.submit_many(
            [new("many-1"), new("many-2", source="cups")]) if isinstance(out, tuple)]
        assert len(answered) == len(cases) + 2
        for receipt in answered:
            assert receipt == j.receipts.get(receipt.id)


def test_the_spoolers_transitions_share_the_submissions_commit(tmp_path: Path) -> None:
    """A print's ``sending`` and ``printed`` commits join the submissions waiting at that
    moment: one transaction, one fsync, instead of each waiting out the other's."""
    import threading
    import time

    path = tmp_path / "journal.db"
    with Journal(path) as j:
        first, _ = j.receipts.submit(**vars(new("first")))
        second, _ = j.receipts.submit(**vars(new("second")))
        j.receipts.start_print(second.prints[0].id)
        group = group_for(path)
        results: dict[str, Any] = {}

        def run(name: str, fn: Any) -> None:
            with Journal(path) as own:  # each thread its own connection, as in the daemon
                results[name] = fn(own)

        threads = [
            threading.Thread(target=run, args=("start", lambda own: own.receipts.start_print(
                first.prints[0].id))),
            threading.Thread(target=run, args=("finish", lambda own: own.receipts.finish_print(
                second.prints[0].id, confirmation="process_id"))),
            threading.Thread(target=run, args=("submit", lambda own: own.receipts.submit(
                **vars(new("third"))))),
        ]
        with group._leader:  # a commit under way: the three queue behind it
            batches = group.batches
            for t in threads:
                t.start()
            deadline = time.monotonic() + 10
            while len(group._pending) < 3 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert len(group._pending) == 3
        for t in threads:
            t.join(10)
        assert group.batches == batches + 1  # the three in one commit
        assert results["start"] == j.receipts.get_print(first.prints[0].id)
        assert results["start"].state == "sending"
        assert results["finish"] == j.receipts.get_print(second.prints[0].id)
        assert results["finish"].state == "printed"
        assert j.receipts.get(second.id).state == "printed"
        assert j.receipts.get(first.id).state == "printing"
        assert results["submit"][1] is True


def test_confirmations_and_the_next_start_share_one_commit(tmp_path: Path) -> None:
    """``finish_then_start``: the prints the printer confirmed and the next print's
    ``sending`` in one transaction, at one moment; answered as a read-back would."""
    path = tmp_path / "journal.db"
    with Journal(path) as j:
        a, b, c = (j.receipts.submit(**vars(new(k)))[0] for k in ("a", "b", "c"))
        j.receipts.start_print(a.prints[0].id)
        j.receipts.start_print(b.prints[0].id)
        group = group_for(path)
        batches = group.batches
        done, started = j.receipts.finish_then_start(
            [(a.prints[0].id, "process_id"), (b.prints[0].id, "process_id")],
            c.prints[0].id)
        assert group.batches == batches + 1  # one commit, one fsync
        assert done == [j.receipts.get_print(a.prints[0].id),
                        j.receipts.get_print(b.prints[0].id)]
        assert [p.state for p in done] == ["printed", "printed"]
        assert started == j.receipts.get_print(c.prints[0].id)
        assert started is not None and started.state == "sending"
        assert started.sent_at == done[0].finished_at == done[1].finished_at
        assert [j.receipts.get(r.id).state for r in (a, b, c)] == [
            "printed", "printed", "printing"]
        assert j.search.counters("front")["printed_originals"] == 2


def test_a_next_print_cancelled_meanwhile_leaves_the_confirmations_committed(
        tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as j:
        a, b = (j.receipts.submit(**vars(new(k)))[0] for k in ("a", "b"))
        j.receipts.start_print(a.prints[0].id)
        j.receipts.cancel(b.id, by="admin")
        done, started = j.receipts.finish_then_start([(a.prints[0].id, "process_id")],
                                                      b.prints[0].id)
        assert started is None
        assert done[0].state == "printed"
        assert j.receipts.get(a.id).state == "printed"
        assert j.receipts.get(b.id).state == "cancelled"


def test_a_print_not_sending_fails_the_whole_commit(tmp_path: Path) -> None:
    """A confirmation for a print that is not ``sending`` is a bug upstream: nothing of the
    transaction is kept, the next print included."""
    with Journal(tmp_path / "journal.db") as j:
        a, b = (j.receipts.submit(**vars(new(k)))[0] for k in ("a", "b"))
        with pytest.raises(Conflict) as caught:
            j.receipts.finish_then_start([(a.prints[0].id, "process_id")], b.prints[0].id)
        assert caught.value.code == "not_sending"
        assert j.receipts.get_print(b.prints[0].id).state == "queued"
        assert j.receipts.get(a.id).state == "queued"
