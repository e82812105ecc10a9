"""The idle printer's hand-off (``spool.handoff``): a receipt for a printer with nothing to do
is journaled ``sending`` in its own commit and sent without a second one.

The offer's rules between two threads, the journal's rule (straight to ``sending`` only as the
printer's one print) on a real file, and the whole path through the real daemon and the
emulator on loopback TCP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiptd.emulator import Emulator
from receiptd.journal import Journal
from receiptd.spool import handoff
from receiptd.spool.handoff import Offer

from ..rig import occurrences
from ..support import DaemonProcess, sample_document, wait_until


def fields(**over: Any) -> dict[str, Any]:
    return {"printer": "front", "kind": "text", "content_json": '{"text": "hi"}',
            "rendered": b"\x1b@hi\n", "profile": "TM-T88V", "request_hash": "h",
            "idempotency_key": None, "order_ref": None, "submitted_by": "pos",
            "paper_mm": 10.0, **over}


# -- the offer ------------------------------------------------------------------------------


def test_one_claim_wins_and_an_unclaimed_offer_closes_at_once() -> None:
    offer = Offer(generation=3)
    assert offer.claim() is True
    assert offer.claim() is False  # the second door queues as before
    other = Offer(generation=3)
    assert other.withdraw(timeout=0) is None
    assert other.claim() is False  # withdrawn: nobody can claim it any more
    assert other.deliver(None) is False


def test_a_claimed_offer_is_waited_for_until_the_commit_delivers() -> None:
    offer = Offer(generation=1)
    assert offer.claim()
    withdrawing = threading.Event()
    got: list[Any] = []

    def spooler() -> None:
        withdrawing.set()
        got.append(offer.withdraw(timeout=10))

    t = threading.Thread(target=spooler)
    t.start()
    withdrawing.wait(5)
    assert offer.deliver("the receipt") is True  # type: ignore[arg-type]
    t.join(10)
    assert got == ["the receipt"]


def test_a_claim_never_delivered_in_time_is_given_up_and_the_claimer_is_told(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "BEAT_S", 0.01)
    offer = Offer(generation=1)
    assert offer.claim()
    beats: list[None] = []
    # The spooler beats while it waits: a slow commit does not look like a hung worker.
    assert offer.withdraw(timeout=0.2, beat=lambda: beats.append(None)) is None
    assert len(beats) >= 2
    # The claimer's commit ends after all: it hears nobody waits, and requeues the print.
    assert offer.deliver("late") is False  # type: ignore[arg-type]


# -- the journal ----------------------------------------------------------------------------


@pytest.fixture
def j(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db") as journal:
        yield journal


def test_a_started_receipt_is_printing_its_print_sending_at_its_creation(j: Journal) -> None:
    receipt, created = j.receipts.submit(**fields(start=True))
    assert created
    assert (receipt.state, receipt.prints[0].state) == ("printing", "sending")
    assert receipt.prints[0].sent_at == receipt.prints[0].created_at == receipt.created_at
    assert receipt == j.receipts.get(receipt.id)  # answered as a read-back would
    j.receipts.finish_print(receipt.prints[0].id, confirmation="process_id")
    assert j.receipts.get(receipt.id).state == "printed"
    assert j.admin.stats()["receipts"]["printed"] == 1


@pytest.mark.parametrize("before", ["queued", "sending"])
def test_never_ahead_of_a_queue_nor_beside_a_print_in_flight(j: Journal, before: str) -> None:
    first, _ = j.receipts.submit(**fields(request_hash="1"))
    if before == "sending":
        j.receipts.start_print(first.prints[0].id)
    second, _ = j.receipts.submit(**fields(request_hash="2", start=True))
    assert (second.state, second.prints[0].state) == ("queued", "queued")
    assert second.prints[0].sent_at is None
    # Another printer's queue is no reason to wait.
    other, _ = j.receipts.submit(**fields(request_hash="3", printer="back", start=True))
    assert other.prints[0].state == "sending"


def test_a_receipt_journaled_failed_is_never_started(j: Journal) -> None:
    receipt, _ = j.receipts.submit(**fields(start=True, failed="the app was told: offline"))
    assert (receipt.state, receipt.prints[0].state) == ("failed", "failed")


# -- through the daemon ---------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(speed_mm_s=50_000.0) as e:
        e.start_tcp()
        yield e


def test_a_receipt_for_an_idle_printer_goes_out_after_its_own_commit_only(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url})
    daemon.wait_state("online")
    handed: list[dict[str, Any]] = []
    tags = []
    # The spooler offers once it is idle with the printer ready; a receipt that arrives in
    # the moment before (still finishing the previous one) is queued as ever. A few in a
    # row, each printed before the next, meet an open offer.
    for i in range(1, 9):
        tag = f"HAND-{i}"
        tags.append(tag)
        answer = daemon.submit({"document": sample_document(tag, lines=2)})
        assert answer["state"] in ("queued", "printing")
        if answer["state"] == "printing":
            handed.append(answer)
        daemon.wait_printed(answer["id"], timeout=20)
        if len(handed) >= 2:
            break
    assert handed, "no receipt met an idle spooler's offer"
    for answer in handed:
        first = answer["prints"][0]
        assert first["state"] == "sending"
        assert first["sent_at"] == answer["created_at"]  # one commit, one moment
        done = daemon.receipt(answer["id"])
        assert [(p["kind"], p["state"], p["confirmation"]) for p in done["prints"]] == [
            ("original", "printed", "process_id")]
    emu.wait_idle(10)
    assert occurrences(emu) == [(tag, False, True) for tag in tags]
    counted = daemon.clients["admin"].get("/v1/journal/stats").json()
    assert counted["receipts"]["printed"] == len(tags)
    assert counted["receipts"]["printing"] == 0


def test_a_fault_closes_the_offer_and_the_receipt_waits_queued(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url})
    daemon.wait_state("online")
    emu.inject("paper_out")
    daemon.wait_state("paper_out")
    answer = daemon.submit({"document": sample_document("WAIT-1", lines=2)})
    assert (answer["state"], answer["prints"][0]["state"]) == ("queued", "queued")
    emu.clear("paper_out")
    daemon.wait_printed(answer["id"], timeout=20)
    wait_until(lambda: occurrences(emu) == [("WAIT-1", False, True)], timeout=10,
               what="the receipt on paper once")
