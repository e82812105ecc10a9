"""The daemon killed with SIGKILL: nothing accepted is lost, nothing is printed twice unmarked.

Real process, real SQLite file, real sockets: ``DaemonProcess.kill()`` sends SIGKILL, and the
restarted daemon finds in the journal what the dead one left in doubt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiptd.emulator import Emulator

from ..rig import Rig, occurrences, verify
from ..support import DaemonProcess, sample_document, wait_until


def test_sigkill_mid_receipt_reprints_it_marked(
    daemon_factory: Callable[..., DaemonProcess]
) -> None:
    # ~50 mm of paper at 40 mm/s: the first receipt takes over a second to come out.
    with Emulator(speed_mm_s=40.0) as emu:
        emu.start_tcp()
        daemon = daemon_factory({"front": emu.tcp_url})
        started: list[bool] = []

        def watch(entry: dict[str, Any]) -> None:
            if entry.get("type") == "text" and "RECEIPT KILL-1" in entry.get("text", ""):
                started.append(True)

        emu.subscribe(watch)
        ids = {tag: daemon.submit({"document": sample_document(tag, lines=3)})["id"]
               for tag in ("KILL-1", "KILL-2", "KILL-3")}
        wait_until(lambda: started, timeout=20, what="first receipt on paper")
        assert daemon.receipt(ids["KILL-1"])["state"] == "printing"
        daemon.kill()  # SIGKILL while the slip is coming out
        daemon.start()
        verify(Rig(emu, daemon, "tcp"), ids, "sigkill mid-receipt")
        seen = occurrences(emu)
        first = [o for o in seen if o[0] == "KILL-1"]
        assert any(marked and whole for _, marked, whole in first), seen
        for tag in ("KILL-2", "KILL-3"):
            assert [o for o in seen if o[0] == tag] == [(tag, False, True)], seen
        prints = daemon.receipt(ids["KILL-1"])["prints"]
        assert [p["kind"] for p in prints] == ["original", "interrupted_retry"], prints
        assert prints[0]["state"] == "interrupted" and "daemon restart" in prints[0]["outcome"]


def test_sigkill_after_202_before_the_first_byte(
    daemon_factory: Callable[..., DaemonProcess]
) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        emu.inject("paper_out")
        daemon = daemon_factory({"front": emu.tcp_url})
        daemon.wait_state("paper_out")
        rid = daemon.submit({"document": sample_document("HELD-1", lines=3)})["id"]
        held = daemon.receipt(rid)
        assert held["state"] == "queued" and held["prints"][0]["sent_at"] is None, held
        daemon.kill()
        daemon.start()
        daemon.wait_state("paper_out")
        assert daemon.receipt(rid)["state"] == "queued"
        emu.clear("paper_out")
        verify(Rig(emu, daemon, "tcp"), {"HELD-1": rid}, "sigkill before first byte")
        assert [o for o in occurrences(emu) if o[0] == "HELD-1"] == [("HELD-1", False, True)]
        prints = daemon.receipt(rid)["prints"]
        assert [(p["kind"], p["state"]) for p in prints] == [("original", "printed")], prints
