"""Stale receipts: a receipt that waited through a fault for longer than the printer's
``hold_after_s`` is held when the fault clears, not printed an hour late; it is listed for the
cashier with the reason, the POS app gets a ``held`` event, and the cashier's word prints it
under a DELAYED marker. Never lost: it stays in the journal."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from receiptd.emulator import Emulator

from ..support import DaemonProcess, is_marked, sample_document, slips_with, wait_until
from .spool_helpers import start_daemon

HOLD_AFTER_S = 1.0


def held_events(daemon: DaemonProcess, receipt_id: int) -> list[dict[str, Any]]:
    """The ``held`` events the bus kept for ``receipt_id`` (read from the start of its history:
    ``Last-Event-ID: 0``), as the POS app's stream carries them."""
    found: list[dict[str, Any]] = []
    headers = {"Last-Event-ID": "0"}
    with daemon.clients["pos"].stream("GET", "/v1/events", headers=headers,
                                      timeout=httpx.Timeout(10, read=3)) as r:
        assert r.status_code == 200
        kind = ""
        try:
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "held":
                    data = json.loads(line[5:])
                    if data["receipt_id"] == receipt_id:
                        found.append(data)
                        break
        except httpx.ReadTimeout:
            pass  # the history is read: nothing more is coming
    return found


def test_a_receipt_stale_after_a_long_fault_is_held_then_printed_on_the_cashiers_word(
    tmp_path: Path,
) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = start_daemon(tmp_path, emu, f"hold_after_s = {HOLD_AFTER_S}\n")
        try:
            pos, cashier = daemon.clients["pos"], daemon.clients["cashier"]
            emu.inject("paper_out")
            daemon.wait_state("paper_out")

            r = pos.post("/v1/printers/front/receipts",
                         json={"document": sample_document("STALE-1"), "order_ref": "S-1"})
            assert r.status_code == 202, r.text
            stale = r.json()
            other = daemon.submit({"document": sample_document("STALE-2"), "order_ref": "S-3"})
            assert stale["printer_state"] == "paper_out"
            assert "paper" in stale["warning"]["en"].lower(), stale["warning"]

            # Held in the fault (the emulator stays out of paper) past hold_after_s.
            time.sleep(HOLD_AFTER_S * 2)
            emu.clear("paper_out")

            wait_until(lambda: daemon.receipt(stale["id"])["state"] == "held",
                       what="stale receipt held")
            # Something submitted now is fresh and prints; the stale one still does not.
            fresh = daemon.submit({"document": sample_document("FRESH-1"), "order_ref": "S-2"})
            daemon.wait_printed(fresh["id"])
            assert slips_with(emu, "STALE-1") == []
            receipt = daemon.receipt(stale["id"])
            assert receipt["state"] == "held"
            assert receipt["held_reason"].startswith("stale: waited"), receipt["held_reason"]
            assert "paper_out" in receipt["held_reason"]

            # The cashier sees it, with the reason; the POS app knows without polling.
            held = cashier.get("/v1/held").json()["receipts"]
            assert [h["id"] for h in held] == [stale["id"], other["id"]]
            assert held[0]["order_ref"] == "S-1" and held[0]["held_reason"]
            event = held_events(daemon, stale["id"])
            assert event and event[0]["order_ref"] == "S-1" and event[0]["reason"] == "stale"
            assert event[0]["hint"]["en"] and event[0]["hint"]["zh"]
            view = pos.get("/v1/printers/front").json()
            assert view["ready"] is True and view["queue"]["held"] == 2

            # "Print now": the cashier's reprint releases the original, marked DELAYED.
            r = cashier.post(f"/v1/receipts/{stale['id']}/reprint", json={"reason": "print now"})
            assert r.status_code == 202, r.text
            assert r.json()["print"]["kind"] == "original"
            daemon.wait_printed(stale["id"])
            slips = slips_with(emu, "STALE-1")
            assert len(slips) == 1, "printed once"
            texts = [e.get("text", "") for e in slips[0] if e.get("type") == "text"]
            assert any("*** DELAYED ***" in t for t in texts), texts
            assert any(t.strip().startswith("taken ") for t in texts), texts
            assert not is_marked(slips[0]), "a delayed original is not a COPY or a REPRINT"
            assert daemon.receipt(stale["id"])["copies"] == 0
            assert [h["id"] for h in cashier.get("/v1/held").json()["receipts"]] == [other["id"]]

            # An admin's recover of the printer is a person's word too: marked the same way.
            r = daemon.clients["admin"].post("/v1/printers/front/recover")
            assert r.status_code == 200, r.text
            daemon.wait_printed(other["id"])
            slips = slips_with(emu, "STALE-2")
            assert len(slips) == 1
            assert any("*** DELAYED ***" in e.get("text", "") for e in slips[0])
            assert cashier.get("/v1/held").json()["receipts"] == []
        finally:
            daemon.close()


def test_hold_after_s_off_prints_everything_after_the_fault(tmp_path: Path) -> None:
    """The default (0, off): a kitchen printer gets every ticket, however late."""
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = start_daemon(tmp_path, emu)
        try:
            emu.inject("paper_out")
            daemon.wait_state("paper_out")
            late = daemon.submit({"document": sample_document("LATE-1")})
            time.sleep(HOLD_AFTER_S * 2)
            emu.clear("paper_out")
            daemon.wait_printed(late["id"])
            assert daemon.receipt(late["id"])["held_reason"] is None
            assert len(slips_with(emu, "LATE-1")) == 1
        finally:
            daemon.close()
