"""Differential fuzzing: whatever ``check_raw`` accepts, the emulated printer runs as allowed.

The generators and the printer-side check live in ``bench/raw_fuzz.py`` (its long run); here
they run a fixed number of examples. Each accepted input is printed on a fresh emulator after the
daemon's real prologue (and sometimes a marker section), followed by the daemon's ``GS a`` and
``GS ( H``: nothing from the raw part may run a forbidden or real-time command or ask for a
process ID, nothing may come back that the same receipt without it would not send, and the
daemon's two commands must still be read as commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from receiptd.document.raw import check_raw
from receiptd.errors import RawRejected

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import raw_fuzz

EXAMPLES = 2000  # ~10 s; every one runs, however busy the machine: no time budget

H = bytes.fromhex
PID = H("1d 28 48 06 00 30 30 41 42 43 44")  # GS ( H fn 48 "ABCD"

# The attacks of the issue, and relatives: each makes the emulated printer run a process-ID
# request, so the filter must refuse it. (Without FS &, ``81 30`` is one character only on
# models that start in a Chinese mode; the emulator is not one: tests/document/test_raw.py.)
ATTACKS = [
    ("FS & + GS ( K hiding GS ( H", H("1c 26 81 30 1d 28 4b 0b 00") + PID + H("1c 2e"),
     "gb18030"),
    ("JIS pair taking GS", H("1c 26 41 1d 28 4b 0b 00") + PID + H("1c 2e"), "jis"),
    ("GS k 04 + 520 bytes without NUL", H("1d 6b 04") + b"A" * 520 + PID + H("00"), "gb18030"),
    ("tabs past 32 positions",
     H("1b 44") + bytes(range(1, 33)) + H("1d 28 4b 0c 00 00") + PID + H("00"), "gb18030"),
]


@pytest.mark.parametrize(("raw", "cjk"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_the_printer_side_check_sees_each_attack_and_the_filter_refuses_it(
    raw: bytes, cjk: str
) -> None:
    # The oracle is not blind: printed as the daemon would send it, each attack makes the
    # emulator run what a raw part must not (so the fuzz test below can fail)...
    found = raw_fuzz.findings(raw, "cp437", cjk, marked=False)
    assert any("GS(H" in f for f in found), found
    # ...and the filter refuses it, with a stable code.
    with pytest.raises(RawRejected) as info:
        check_raw(raw)
    assert info.value.code.startswith("raw_") and info.value.status == 422


def test_a_real_time_command_across_the_prologue_is_stopped_twice() -> None:
    raw = H("14 01 00 05") + b"hi\n"  # DLE DC4 1 0 5, a drawer pulse, after a 10
    # After the old CP1252 prologue (ESC @ ESC t 16) the printer pulses the drawer...
    old = raw_fuzz.print_receipt(H("1b 40 1b 74 10"), raw, "gb18030")
    assert old.realtime == [H("10 14 01 00 05")]
    # ...after today's it does not, and the filter refuses such a first byte anyway.
    assert raw_fuzz.findings(raw, "cp1252", "gb18030", marked=False) == []
    with pytest.raises(RawRejected) as info:
        check_raw(raw)
    assert info.value.code == "raw_realtime_sequence"


def test_well_formed_raw_prints_cleanly_on_every_model() -> None:
    raw = H("1b 40 1b 21 08") + b"Caf\xe9 4,50 \x80\n" + H("1c 26 ba cf bc c6 0a 1c 2e")
    raw += H("1d 6b 04") + b"12345" + H("00 1d 56 42 03")
    check_raw(raw)
    for profile in raw_fuzz.PROFILES:
        for cjk in raw_fuzz.CJK:
            assert raw_fuzz.findings(raw, profile, cjk, marked=True) == [], (profile, cjk)


@pytest.mark.timeout(600)
def test_whatever_the_filter_accepts_the_printer_runs_as_allowed() -> None:
    tally = raw_fuzz.Tally()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(raw_fuzz.case)
    def run(case: tuple[bytes, str, str, bool]) -> None:
        raw_fuzz.check_case(tally, *case)

    run()
    print(f"raw differential fuzzing: {tally.as_dict()}")
    assert tally.found == [], tally.found[:5]
    # Not vacuous: thousands of inputs, a good part of them accepted and printed.
    assert tally.examples >= EXAMPLES // 4, tally.as_dict()
    assert tally.accepted >= tally.examples // 5, tally.as_dict()
