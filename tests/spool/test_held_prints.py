"""A raw receipt can no longer feed paper forever.

``"X\\n" + "ESC d 255" * 6`` is six metres of paper: counted by its line feeds alone it was one
line, its confirmation deadline passed while it was still feeding, and it was interrupted and
requeued ahead of everything else, over and over (13 m of paper a minute, later receipts
starved, surviving a restart). Now every feeding command counts: such a receipt is refused at
submission over the printer's cap (``max_paper_mm``, 422 ``too_much_paper``); under a higher
cap it prints once, within a deadline that covers its paper; and a print interrupted
``max_print_attempts`` times in a row is ``held`` for a person (a cashier's reprint or an
admin's recover releases it) instead of being sent again.
"""

from __future__ import annotations

import base64
from pathlib import Path

from receiptd.emulator import Emulator

from ..rig import Rig, occurrences, verify
from ..support import sample_document, wait_until
from .spool_helpers import start_daemon

FEEDS_METRES = b"X\n" + b"\x1bd\xff" * 6  # the receipt: ~6.5 m at 4.23 mm a line


def raw(data: bytes) -> dict[str, str]:
    return {"raw": base64.b64encode(data).decode()}


def test_a_receipt_over_the_paper_cap_is_refused_at_submission(tmp_path: Path) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon = start_daemon(tmp_path, emu)
        try:
            r = daemon.clients["pos"].post("/v1/printers/front/receipts", json=raw(FEEDS_METRES))
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "too_much_paper"
            assert "max_paper_mm" in r.json()["error"]["message"]
            long_doc = {"document": {"blocks": [{"type": "feed", "lines": 255}] * 4}}
            r = daemon.clients["pos"].post("/v1/printers/front/receipts", json=long_doc)
            assert r.status_code == 422 and r.json()["error"]["code"] == "too_much_paper", r.text
            ok = daemon.submit(raw(b"RECEIPT SMALL\nTOTAL 1.00\n\x1bd\x06\x1dV\x00"))
            daemon.wait_printed(ok["id"])
        finally:
            daemon.close()


def test_a_long_feeding_raw_receipt_under_a_higher_cap_prints_once(tmp_path: Path) -> None:
    """Its deadline covers the paper it feeds: printed once, unmarked, the queue goes on."""
    with Emulator(speed_mm_s=2000.0) as emu:  # 6.5 m: about 3 s of feeding here
        emu.start_tcp()
        daemon = start_daemon(tmp_path, emu, "max_paper_mm = 10000\nconfirm_timeout_s = 1.5\n")
        try:
            feeding = daemon.submit(raw(FEEDS_METRES))["id"]
            after = daemon.submit({"document": sample_document("AFTER-FEEDS")})["id"]
            daemon.wait_printed(after, timeout=60)
            prints = daemon.receipt(feeding)["prints"]
            assert [(p["kind"], p["state"]) for p in prints] == [("original", "printed")], prints
            assert emu.snapshot()["printed_mm"] > 5000  # it really fed metres of paper
        finally:
            daemon.close()


def test_a_print_interrupted_too_often_is_held_until_a_cashier_reprints_it(
    tmp_path: Path,
) -> None:
    with Emulator(speed_mm_s=400.0) as emu:
        emu.start_tcp()
        daemon = start_daemon(tmp_path, emu, "max_print_attempts = 2\n")
        try:
            # Each attempt is cut short past its marker, in its body: the cover opens.
            emu.arm("cover_open", after_mm=40)
            rid = daemon.submit({"document": sample_document("HELD-1", lines=20)})["id"]
            daemon.wait_state("cover_open", timeout=20)
            emu.arm("cover_open", after_mm=40)
            emu.clear("cover_open")  # attempt 2 goes out and is cut short too
            wait_until(lambda: daemon.receipt(rid)["state"] == "held", timeout=30,
                       what="receipt held after two interrupted attempts")
            emu.disarm()
            emu.clear("cover_open")
            daemon.wait_state("online", timeout=20)

            # Held: the printer goes on with the next receipts, the held one waits.
            later = daemon.submit({"document": sample_document("LATER-1")})["id"]
            daemon.wait_printed(later, timeout=30)
            receipt = daemon.receipt(rid)
            assert [(p["kind"], p["state"]) for p in receipt["prints"]] == [
                ("original", "interrupted"), ("interrupted_retry", "interrupted"),
                ("interrupted_retry", "held")], receipt["prints"]
            assert "held after 2 interrupted attempts" in receipt["prints"][-1]["reason"]
            health = daemon.printer()
            assert health["queue"]["held"] == 1
            problem = [p for p in health["problems"] if p["code"] == "print_held"]
            assert problem and problem[0]["receipts"] == [rid], health["problems"]
            assert problem[0]["hint"]["en"] and problem[0]["hint"]["zh"]

            # A cashier's reprint is the word that releases it: it prints, marked.
            r = daemon.clients["cashier"].post(f"/v1/receipts/{rid}/reprint")
            assert r.status_code == 202, r.text
            assert r.json()["print"]["kind"] == "interrupted_retry"
            verify(Rig(emu, daemon, "tcp"), {"HELD-1": rid, "LATER-1": later}, "held, reprint")
            prints = daemon.receipt(rid)["prints"]
            assert [p["state"] for p in prints] == ["interrupted", "interrupted", "printed"]
            assert daemon.printer()["queue"]["held"] == 0
        finally:
            daemon.close()


def test_an_admin_recover_releases_the_held_prints(tmp_path: Path) -> None:
    with Emulator(speed_mm_s=400.0) as emu:
        emu.start_tcp()
        daemon = start_daemon(tmp_path, emu, "max_print_attempts = 1\n")
        try:
            emu.arm("cover_open", after_mm=40)
            rid = daemon.submit({"document": sample_document("HELD-2", lines=20)})["id"]
            wait_until(lambda: daemon.receipt(rid)["state"] == "held", timeout=30,
                       what="receipt held after one interrupted attempt")
            emu.clear("cover_open")
            daemon.wait_state("online", timeout=20)
            assert daemon.receipt(rid)["state"] == "held"
            r = daemon.clients["admin"].post("/v1/printers/front/recover")
            assert r.status_code == 200, r.text
            verify(Rig(emu, daemon, "tcp"), {"HELD-2": rid}, "held, recover")
            marked = [o for o in occurrences(emu) if o[0] == "HELD-2" and o[1]]
            assert marked == [("HELD-2", True, True)], occurrences(emu)
        finally:
            daemon.close()
