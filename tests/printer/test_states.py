"""The flags → state table, the advice every state carries, and the board's process IDs (pure,
no printer needed)."""

from __future__ import annotations

import itertools

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
from receiptd.printer.board import StateBoard
from receiptd.printer.liveness import slowest_intake
from receiptd.protocol import PROBE_PID, StatusFlags, encode_pid, flags_from_asb, is_pid

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


# -- process IDs on the board ------------------------------------------------------------------


def test_issued_process_ids_are_random_valid_and_never_the_probe() -> None:
    board = StateBoard("front")
    pids = [board.issue_process_id(k) for k in range(1, 1001)]
    assert all(is_pid(pid) and pid != PROBE_PID for pid in pids)
    assert len(set(pids)) == len(pids)  # unique among those remembered
    # Not the print id written as a counter, and not a counter of their own: consecutive
    # prints share no predictable part (a sequence would repeat most characters).
    assert encode_pid(1) not in pids[:1] and pids[1] != encode_pid(2)
    same_prefix = sum(a[:2] == b[:2] for a, b in itertools.pairwise(pids))
    assert same_prefix < 10, same_prefix  # 1000 pairs at 1/9025: a counter would give ~990


def test_a_process_id_counts_only_once_issued_and_on_its_connection() -> None:
    board = StateBoard("front")
    board.new_generation(connected=True)
    guess = encode_pid(7)  # what a till could predict before: the print id as a counter
    board.process_id_returned(guess)  # comes back before anything was issued
    pid = board.issue_process_id(7)
    assert board.returned_process_ids([pid, guess]) == set()
    assert board.counters["unissued_process_ids"] == 1
    generation = board.current_generation()
    assert board.wait_process_ids([pid], generation, 0.05) == "timeout"
    board.process_id_returned(pid)
    assert board.returned_process_ids([pid]) == {pid}
    assert board.wait_process_ids([pid], generation, 0.05) == "confirmed"
    # A new connection or a printer reset: what came back before confirms nothing sent after.
    board.new_generation(counter="power_on")
    assert board.returned_process_ids([pid]) == set()
    assert board.wait_process_ids([pid], generation, 0.05) == "reset"


def test_a_reply_for_an_earlier_print_does_not_count_as_forged() -> None:
    # A late reply for a print issued on this connection, whose print was given up, is ours:
    # recorded, and it confirms only that print (its ID is never issued again).
    board = StateBoard("front")
    first = board.issue_process_id(1)
    later = [board.issue_process_id(k) for k in range(2, 50)]
    board.process_id_returned(first)
    assert board.counters["unissued_process_ids"] == 0
    assert board.returned_process_ids(later) == set()
