"""``hold_stale`` against a real SQLite file: which queued prints a cleared fault holds, what
the receipt and the reason say, and that a released one is never held as stale again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from receiptd.journal import Journal, Receipt
from receiptd.journal.trouble import DELAYED

from .clocks import T0, Clock


def submit(journal: Journal, printer: str = "front") -> Receipt:
    args: dict[str, Any] = {
        "printer": printer, "kind": "text", "content_json": '{"text": "hello"}',
        "rendered": b"\x1b@hello\n", "profile": "TM-T88V", "request_hash": "h",
        "idempotency_key": None, "order_ref": "A-1", "submitted_by": "pos", "paper_mm": 10.0,
    }
    return journal.receipts.submit(**args)[0]


def test_only_what_was_queued_before_the_cutoff_on_that_printer_is_held(
    j: Journal, clock: Clock
) -> None:
    old = submit(j)
    interrupted = submit(j)
    job = j.receipts.next_print("front")
    assert job is not None and job.receipt_id == old.id
    other_printer = submit(j, printer="back")
    clock.now = T0 + timedelta(minutes=1)
    # The second receipt's print was cut short: its marked repeat waits since now.
    started = j.receipts.start_print(j.receipts.get(interrupted.id).prints[0].id)
    retry = j.receipts.interrupt_print(started.id, reason="interrupted: fault:paper_out")
    clock.now = T0 + timedelta(minutes=30)
    fresh = submit(j)

    held = j.receipts.hold_stale("front", queued_before=T0 + timedelta(minutes=20),
                                 reason="stale: waited 1700 s through paper_out")
    assert [(p.receipt_id, p.kind) for p in held] == [(old.id, "original"),
                                                      (interrupted.id, "interrupted_retry")]
    assert all(p.state == "held" and p.marker == DELAYED for p in held)
    assert held[1].id == retry.id
    assert held[1].reason == ("stale: waited 1700 s through paper_out; "
                              "interrupted: fault:paper_out")
    assert j.receipts.get(old.id).state == "held"
    assert j.receipts.get(fresh.id).state == "queued"
    assert j.receipts.get(other_printer.id).state == "queued"
    next_job = j.receipts.next_print("front")
    assert next_job is not None and next_job.receipt_id == fresh.id  # the queue goes on
    assert j.search.counters("front").get("held_stale") == 2


def test_a_released_stale_print_keeps_its_marker_and_is_not_held_again(
    j: Journal, clock: Clock
) -> None:
    r = submit(j)
    clock.now = T0 + timedelta(hours=1)
    (held,) = j.receipts.hold_stale("front", queued_before=clock.now, reason="stale")
    (released,) = j.receipts.release_held(receipt_id=r.id, by="anna (cashier)")
    assert released.id == held.id and released.state == "queued"
    assert released.marker == DELAYED and "released by anna" in (released.reason or "")
    assert j.receipts.get(r.id).state == "queued"
    clock.now = T0 + timedelta(hours=2)
    assert j.receipts.hold_stale("front", queued_before=clock.now, reason="stale") == []
