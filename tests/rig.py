"""The fault-matrix rig and the paper checks the fault, crash and send-window tests share:
what came out of the emulated printer, and whether every receipt came out whole, once
unmarked at most."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from receiptd.emulator import Emulator

from .support import MARKER, DaemonProcess


@dataclass
class Rig:
    emu: Emulator
    daemon: DaemonProcess
    kind: str
    receipt_mm: float = 0.0
    usb_state: Path | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    dialect: str = "escpos"  # what the printer speaks: "escpos" or "star" (Star Line Mode)


def occurrences(emu: Emulator) -> list[tuple[str, bool, bool]]:
    """Every ``RECEIPT <tag>`` line on paper: (tag, marked, complete).

    Marked: a COPY/REPRINT marker line precedes it on the same slip with no other receipt in
    between. Complete: its TOTAL line follows before the next receipt, on a slip that was cut.
    """
    found: list[tuple[str, bool, bool]] = []
    for slip in emu.transcript.slips():
        marked = False
        cut = bool(slip) and slip[-1].get("type") == "cut"
        current: list[Any] | None = None
        for entry in slip:
            if entry.get("type") != "text":
                continue
            text = entry["text"].strip()
            if MARKER.match(text):
                marked = True
            elif text.startswith("RECEIPT "):
                if current is not None:
                    found.append(tuple(current))  # type: ignore[arg-type]
                current = [text.split()[1], marked, False]
                marked = False
            elif text.startswith("TOTAL") and current is not None:
                current[2] = True
        if current is not None:
            current[2] = current[2] and cut
            found.append(tuple(current))  # type: ignore[arg-type]
    return found


def verify(rig: Rig, receipts: dict[str, int], case: str) -> None:
    """Every receipt printed; never unmarked twice; a confirmed print never repeated."""
    daemon, emu = rig.daemon, rig.emu
    for rid in receipts.values():
        daemon.wait_printed(rid, timeout=60)
    emu.wait_idle(10)
    seen = occurrences(emu)
    for tag, rid in receipts.items():
        mine = [o for o in seen if o[0] == tag]
        unmarked = [o for o in mine if not o[1]]
        assert len(unmarked) <= 1, f"{case}: {tag} printed unmarked {len(unmarked)} times\n" \
                                   f"{emu.transcript.text()}"
        assert any(o[2] for o in mine), f"{case}: {tag} never came out whole\n" \
                                        f"{emu.transcript.text()}\n{daemon.log()}"
        prints = daemon.receipt(rid)["prints"]
        printed = [p for p in prints if p["state"] == "printed"]
        assert len(printed) == 1, f"{case}: {tag}: {prints}"
        assert prints[-1]["state"] == "printed", f"{case}: {tag} reprinted after confirm: {prints}"
        if printed[0]["kind"] == "original":
            assert not [o for o in mine if o[1]], f"{case}: {tag} confirmed yet reprinted"
