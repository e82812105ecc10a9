"""The flags → state table and the advice every state carries (pure, no printer needed)."""

from __future__ import annotations

import pytest

from receiptd.links import link_for_url
from receiptd.printer import (
    ADVICE,
    FAULT_STATES,
    READY_STATES,
    PrinterState,
    active_flags,
    state_from_flags,
)
from receiptd.printer.liveness import slowest_intake
from receiptd.protocol import StatusFlags, flags_from_asb

S = PrinterState


@pytest.mark.parametrize(
    ("asb", "state"),
    [
        ("10000000", S.ONLINE),
        ("10000300", S.PAPER_NEAR_END),
        ("18000c00", S.PAPER_OUT),
        ("18000f00", S.PAPER_OUT),  # paper end wins over near-end
        ("38000000", S.COVER_OPEN),
        ("38000c00", S.COVER_OPEN),  # cover open while out of paper: close the cover first
        ("18080000", S.CUTTER_ERROR),
        ("18040000", S.MECHANICAL_ERROR),
        ("18400000", S.AUTO_RECOVERABLE_ERROR),
        ("18200000", S.UNRECOVERABLE_ERROR),
        ("18280c00", S.UNRECOVERABLE_ERROR),  # most severe first
        ("18000000", S.OFFLINE),  # offline with no cause given
    ],
)
def test_asb_block_maps_to_one_state(asb: str, state: PrinterState) -> None:
    assert state_from_flags(flags_from_asb(bytes.fromhex(asb)))[0] == state


def test_every_state_has_category_and_bilingual_advice() -> None:
    for state in PrinterState:
        advice = ADVICE[state]
        assert advice.category in {"none", "consumable", "operator", "hardware", "connection"}
        assert advice.en and advice.zh and advice.en != advice.zh


def test_state_sets_partition_the_states() -> None:
    assert READY_STATES.isdisjoint(FAULT_STATES)
    assert READY_STATES | FAULT_STATES | {S.UNKNOWN} == set(PrinterState)
    assert S.PAPER_NEAR_END in READY_STATES  # a warning: printing goes on


def test_active_flags_names_what_is_set() -> None:
    assert active_flags(StatusFlags(paper_end=True, offline=True)) == ["offline", "paper_end"]
    assert active_flags(StatusFlags()) == []


@pytest.mark.parametrize(
    ("url", "rate"),
    [
        ("serial:///dev/ttyUSB0?baudrate=9600", 960.0),
        ("serial:///dev/ttyUSB0?baudrate=38400", 3840.0),
        ("serial:///dev/ttyUSB0?baudrate=115200", 8000.0),  # the printing is slower than that
        ("tcp://10.0.0.5:9100", 8000.0),
        ("usb://04b8:0e28", 8000.0),
    ],
)
def test_silence_allowance_follows_the_link(url: str, rate: float) -> None:
    assert slowest_intake(link_for_url(url)) == rate
