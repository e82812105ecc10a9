"""A CUPS queue on ``receiptd://front`` end to end: ``lp`` through a private cupsd, the backend
installed by ``receiptd-cups-backend install``, the real daemon and the emulated printer.

What a shop printing through CUPS must be able to rely on: the job is journaled (source
``cups``) and confirmed on paper before CUPS calls it completed; ``lpstat`` shows why a job
waits (paper out) and stops showing it once the paper is in; a CUPS retry of a job, or a
cupsd whose job ids started again from 1, never makes one job two receipts or two jobs one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from receiptd.testing.cups import PrivateCups

from ..support import DaemonProcess, is_marked, slips_with, wait_until
from .conftest import Rig


def slip(tag: str) -> bytes:
    """A raw ESC/POS receipt as a POS app hands CUPS: init, text, feed, cut."""
    return b"\x1b@" + f"CUPS RECEIPT {tag}\nItem 1      1.00\n".encode() + b"\x1bd\x03\x1dV\x00"


def cups_receipts(daemon: DaemonProcess, source: str = "cups") -> list[dict[str, object]]:
    r = daemon.clients["cashier"].get("/v1/receipts", params={"source": source})
    assert r.status_code == 200, r.text
    receipts: list[dict[str, object]] = r.json()["receipts"]
    return receipts


def alerts(cups: PrivateCups) -> set[str]:
    """The queue's printer-state-reasons, as ``lpstat -l -p`` shows them ("Alerts:")."""
    found = re.search(r"Alerts:\s*(.*)", cups.printer_status("front"))
    assert found, cups.printer_status("front")
    return set(found.group(1).split()) - {"none"}


def test_lp_prints_through_receiptd_journaled_as_cups(rig: Rig) -> None:
    job = rig.cups.lp("front", slip("A"), "receiptd-order-ref=1842")
    assert rig.cups.wait_backend_runs(job, 1) == ["ok"]  # completed only once printed

    [receipt] = cups_receipts(rig.daemon)
    assert receipt["state"] == "printed" and receipt["kind"] == "raw"
    assert receipt["order_ref"] == "1842" and receipt["submitted_by"] == "pos"
    assert str(receipt["idempotency_key"]).startswith(f"cups-{job}-")
    assert cups_receipts(rig.daemon, "api") == []
    slips = slips_with(rig.emu, "CUPS RECEIPT A")
    assert len(slips) == 1 and not is_marked(slips[0])
    assert str(job) in rig.cups.completed("front")
    assert alerts(rig.cups) == set()


def test_paper_out_shows_in_lpstat_while_the_job_waits_and_clears_after_refill(
    rig: Rig,
) -> None:
    rig.emu.inject("paper_out")
    rig.daemon.wait_state("paper_out")
    job = rig.cups.lp("front", slip("B"))

    wait_until(lambda: {"media-empty-error", "media-needed-error"} <= alerts(rig.cups),
               timeout=30, what="lpstat showing the paper-out reasons")
    assert rig.cups.backend_exits(job) == []  # the job waits in CUPS, not failed or retried
    assert str(job) in rig.cups.not_completed("front")
    # Plain `lpstat -p` shows the queue's message: receiptd's hint for the fault.
    assert "paper out" in rig.cups.run("lpstat", "-p", "front").lower()
    [receipt] = cups_receipts(rig.daemon)
    assert receipt["state"] == "queued"  # journaled, held by the fault

    rig.emu.clear("paper_out")
    assert rig.cups.wait_backend_runs(job, 1) == ["ok"]
    assert alerts(rig.cups) == set()
    assert rig.daemon.receipt(int(str(receipt["id"])))["state"] == "printed"
    slips = slips_with(rig.emu, "CUPS RECEIPT B")
    assert len(slips) == 1 and not is_marked(slips[0])


def test_a_cups_retry_of_the_same_job_prints_nothing_new(rig: Rig) -> None:
    job = rig.cups.lp("front", slip("C"))
    assert rig.cups.wait_backend_runs(job, 1) == ["ok"]

    rig.cups.restart_job(job)  # cupsd runs the backend again: same job id, same job-uuid
    assert rig.cups.wait_backend_runs(job, 2) == ["ok", "ok"]

    assert len(cups_receipts(rig.daemon)) == 1
    assert len(slips_with(rig.emu, "CUPS RECEIPT C")) == 1
    assert "already accepted (CUPS retry)" in rig.cups.full_log()


def test_job_ids_that_start_again_are_new_receipts(
    rig: Rig, cups_factory: Callable[..., PrivateCups]
) -> None:
    """A second cupsd (or this one with its state wiped) numbers jobs from 1 again: its job 1
    is a new receipt, even with the same bytes, not a replay of the first cupsd's job 1."""
    first = rig.cups.lp("front", slip("D"))
    assert rig.cups.wait_backend_runs(first, 1) == ["ok"]
    other = cups_factory(rig.daemon)
    second = other.lp("front", slip("D"))
    assert second == first == 1
    assert other.wait_backend_runs(second, 1) == ["ok"]

    assert len(cups_receipts(rig.daemon)) == 2
    slips = slips_with(rig.emu, "CUPS RECEIPT D")
    assert len(slips) == 2 and not any(is_marked(s) for s in slips)
