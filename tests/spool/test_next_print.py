"""The next print made ready while the one before it prints, and started in the commit that
confirms that one: through the real daemon (one print at a time, the default) and the emulator
on loopback TCP, printing slowly (100 mm/s) so each receipt is still on its way while the
daemon makes the next one ready.

What must hold: every receipt once, whole, unmarked, in order; a print's ``sending`` still on
disk before its first byte (it shares the commit of the confirmation before it, at the same
moment); a receipt cancelled after it was made ready never reaches paper.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from receiptd.emulator import Emulator

from ..rig import occurrences
from ..support import DaemonProcess, sample_document, wait_until

SPEED_MM_S = 100.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(speed_mm_s=SPEED_MM_S) as e:
        e.start_tcp()
        yield e


def queue_held(emu: Emulator, daemon: DaemonProcess, tags: list[str],
               lines: int = 3) -> list[dict[str, Any]]:
    """Queue receipts while the cover is open, so all of them wait when it closes."""
    emu.inject("cover_open")
    daemon.wait_state("cover_open")
    out = [daemon.submit({"document": sample_document(tag, lines=lines)}) for tag in tags]
    wait_until(lambda: daemon.printer()["queue"]["depth"] == len(tags), timeout=10,
               what="all receipts queued")
    return out


def test_each_print_starts_in_the_commit_that_confirms_the_one_before(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url})
    tags = [f"NEXT-{i}" for i in range(1, 5)]
    receipts = queue_held(emu, daemon, tags)
    emu.clear("cover_open")
    prints = [daemon.wait_printed(r["id"], timeout=30)["prints"] for r in receipts]
    emu.wait_idle(10)

    assert [[(p["kind"], p["state"], p["confirmation"]) for p in ps] for ps in prints] == [
        [("original", "printed", "process_id")]] * 4, prints
    firsts = [ps[0] for ps in prints]
    for before, after in itertools.pairwise(firsts):
        # One commit: the next one went to "sending" as the one before went to "printed".
        assert after["sent_at"] == before["finished_at"], (before, after)
    # On paper: each once, whole, unmarked, in the order taken.
    assert occurrences(emu) == [(tag, False, True) for tag in tags]
    assert daemon.printer()["state"] == "online"


def test_a_receipt_cancelled_after_it_was_made_ready_never_prints(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url})
    first, second, third = queue_held(emu, daemon, ["LONG-1", "GONE-2", "NEXT-3"], lines=30)
    emu.clear("cover_open")
    # The first is well under way on paper: the daemon made the second ready long before.
    wait_until(lambda: emu.snapshot()["printed_mm"] > 30, timeout=20, what="printing")
    assert daemon.receipt(first["id"])["state"] == "printing"
    r = daemon.clients["admin"].post(f"/v1/receipts/{second['id']}/cancel")
    assert r.status_code == 200, r.text

    daemon.wait_printed(first["id"], timeout=30)
    daemon.wait_printed(third["id"], timeout=30)
    emu.wait_idle(10)
    gone = daemon.receipt(second["id"])
    assert gone["state"] == "cancelled"
    assert [p["state"] for p in gone["prints"]] == ["cancelled"]
    assert occurrences(emu) == [("LONG-1", False, True), ("NEXT-3", False, True)]
