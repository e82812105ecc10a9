"""receiptd.vport.answers: the status bytes, held against the emulator's own (written from the
printer manuals without the daemon's codec).

For each fault the emulated printer can be in, the daemon's view is built the way the daemon
builds it (the flags of the printer's ASB block, and the state they mean); the answers made
from that view must be the bytes the emulated printer itself answers.
"""

from __future__ import annotations

import pytest

from receiptd.emulator import status as emu
from receiptd.emulator.config import Identity
from receiptd.emulator.status import Fault
from receiptd.printer.states import PrinterState, Snapshot, active_flags, state_from_flags
from receiptd.protocol import flags_from_asb
from receiptd.render.profiles import get_profile
from receiptd.vport import answers

FAULTS = [set(), {Fault.NEAR_END}, {Fault.PAPER_OUT}, {Fault.COVER_OPEN}, {Fault.CUTTER_ERROR},
          {Fault.JAM}, {Fault.OVERHEAT}, {Fault.UNRECOVERABLE}, {Fault.DRAWER_OPEN},
          {Fault.PAPER_OUT, Fault.COVER_OPEN}, {Fault.NEAR_END, Fault.DRAWER_OPEN}]


def snapshot(faults: set[Fault], connected: bool = True,
             identity: dict[str, str] | None = None) -> Snapshot:
    offline = bool(faults & emu.STOPPING)
    flags = flags_from_asb(emu.asb_block(faults, offline))
    state, cause = state_from_flags(flags)
    return Snapshot(name="front", url="tcp://x", kind="tcp", state=state, since=0.0, cause=cause,
                    flags=active_flags(flags), connected=connected, confirmation="process_id",
                    identity=identity or {}, last_error=None)


@pytest.mark.parametrize("faults", FAULTS, ids=lambda f: "+".join(sorted(f)) or "ready")
def test_answers_are_the_printers_own_bytes(faults: set[Fault]) -> None:
    snap = snapshot(faults)
    offline = bool(faults & emu.STOPPING)
    for n in (1, 2, 3, 4):
        assert answers.dle_eot(snap, n) == bytes([emu.realtime_status(faults, offline, n)]), n
    block = emu.asb_block(faults, offline)
    assert answers.asb_block(snap) == block
    assert answers.status_now(snap, 1) == block
    for n in (1, 2, 49, 50):
        assert answers.sensor(snap, n) == emu.sensor_status(faults, n), n
    assert answers.status_now(snap, 4) == emu.offline_block(faults, with_cause=True)
    for mask in (0x01, 0x02, 0x04, 0x08, 0x4F):
        assert answers.asb_view(block, mask) == emu.asb_view(block, mask)


def test_a_printer_receiptd_cannot_reach_answers_offline() -> None:
    snap = snapshot({Fault.NEAR_END}, connected=False)
    snap.state = PrinterState.OFFLINE
    assert answers.dle_eot(snap, 1) == b"\x1a"  # offline
    assert answers.dle_eot(snap, 4) == b"\x1e"  # paper as last known
    assert answers.asb_block(snap)[0] & 0x08


def test_identity_is_what_the_printer_told_receiptd_and_nothing_made_up() -> None:
    ident = Identity()
    snap = snapshot(set(), identity={"model": ident.model, "maker": ident.maker,
                                     "firmware": ident.firmware, "serial": ident.serial})
    profile = get_profile("TM-T88V")
    for n in (65, 66, 67, 68):
        assert answers.identity(snap, profile, n) == emu.identity_reply(ident, n)
    assert answers.identity(snap, profile, 2) == b"\x02"  # autocutter, no two-byte characters
    assert answers.identity(snapshot(set()), profile, 67) is None  # not read yet: no answer
    assert answers.identity(snap, profile, 1) is None
    assert answers.process_id(b"AB C") == b"\x37\x22AB C\x00"
