"""receiptd.protocol.star on bytes taken from Star Line Mode's tables, and chunking properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiptd.printer.states import PrinterState, state_from_flags
from receiptd.protocol import AsbStatus, FlowControl, Garbage, StatusFlags, star
from receiptd.protocol.star import EtbCounter, StarStreamParser, VersionReply

H = bytes.fromhex

# A 9-byte automatic status, version 3 (Header-1 0x23, Header-2 0x06): the printer is online,
# nothing open, paper in, ETB counter 0.
IDLE = H("23 06 00 00 00 00 00 00 00")


def block(status1: int = 0, status2: int = 0, status3: int = 0, status4: int = 0,
          counter: int | None = 0) -> bytes:
    raw = bytes((0x06, status1, status2, status3, status4, 0))
    if counter is None:
        return bytes((star.header1_for(7), 0x02)) + raw[1:]
    return bytes((star.header1_for(9),)) + raw + bytes((star.etb_counter_byte(counter), 0))


def events(data: bytes) -> list[object]:
    return list(StarStreamParser().feed(data))


def test_commands_match_the_specification() -> None:
    assert star.enable_asb() == H("1b 1e 61 01")
    assert star.enable_asb(False) == H("1b 1e 61 00")
    assert star.etb() == H("17")
    assert star.clear_etb_counter() == H("1b 1e 45 00")
    assert star.status_request() == H("1b 06 01")
    assert star.version_request() == H("1b 23 2a 0a 00")
    assert star.init() == H("1b 40")
    assert star.printer_reset() == H("1b 06 18")


@pytest.mark.parametrize(("length", "header"), [
    (7, 0x0F), (8, 0x21), (9, 0x23), (10, 0x25), (15, 0x2F),  # the Header-1 table
])
def test_header1_length_table(length: int, header: int) -> None:
    assert star.header1_for(length) == header
    assert star.asb_length(header) == length
    assert star.is_header1(header)


def test_etb_counter_bits_and_wrap() -> None:
    # Printer status 6: counter bits 0-2 in bits 1-3, bits 3-4 in bits 5-6; bits 0, 4, 7 are 0.
    assert star.etb_counter_byte(0) == 0x00
    assert star.etb_counter_byte(1) == 0x02
    assert star.etb_counter_byte(7) == 0x0E
    assert star.etb_counter_byte(8) == 0x20
    assert star.etb_counter_byte(31) == 0x6E
    for v in range(32):
        b = star.etb_counter_byte(v)
        assert star.is_status_byte(b)
        assert star.etb_counter(bytes(7) + bytes((b,))) == v
    assert star.etb_advance(30, 1) == 3
    assert star.etb_advance(5, 5) == 0


def test_idle_status_is_online() -> None:
    (counter, status) = events(IDLE)
    assert counter == EtbCounter(0, executed=False)
    assert isinstance(status, AsbStatus) and status.raw == IDLE
    assert status.flags == StatusFlags()
    assert state_from_flags(status.flags)[0] is PrinterState.ONLINE


@pytest.mark.parametrize(("kwargs", "field", "state"), [
    ({"status1": 0x08}, "offline", PrinterState.OFFLINE),
    ({"status1": 0x40}, "offline", PrinterState.OFFLINE),
    ({"status1": 0x28}, "cover_open", PrinterState.COVER_OPEN),
    ({"status1": 0x04}, "drawer_open", PrinterState.ONLINE),
    ({"status2": 0x04}, "recoverable_error", PrinterState.MECHANICAL_ERROR),
    ({"status2": 0x08}, "cutter_error", PrinterState.CUTTER_ERROR),
    ({"status2": 0x20}, "unrecoverable_error", PrinterState.UNRECOVERABLE_ERROR),
    ({"status2": 0x40}, "auto_recoverable_error", PrinterState.AUTO_RECOVERABLE_ERROR),
    ({"status3": 0x02}, "cover_open", PrinterState.COVER_OPEN),
    ({"status4": 0x04}, "paper_near_end", PrinterState.PAPER_NEAR_END),
    ({"status4": 0x02}, "paper_near_end", PrinterState.PAPER_NEAR_END),
    ({"status1": 0x08, "status4": 0x0C}, "paper_end", PrinterState.PAPER_OUT),
])
def test_status_bits_map_to_flags(kwargs: dict[str, int], field: str,
                                  state: PrinterState) -> None:
    status = events(block(**kwargs))[-1]
    assert isinstance(status, AsbStatus)
    assert getattr(status.flags, field)
    assert state_from_flags(status.flags)[0] is state


def test_counter_and_etb_bit_come_before_the_status() -> None:
    out = events(block(status1=0x02, status4=0x08, counter=5))
    assert out[0] == EtbCounter(5, executed=True)
    assert isinstance(out[1], AsbStatus) and out[1].flags.paper_end


def test_short_block_has_no_counter() -> None:
    out = events(block(counter=None))
    assert len(out) == 1 and isinstance(out[0], AsbStatus)


def test_version_reply() -> None:
    out = events(H("1b 23 2a 2c") + b"TSP143IIIW Ver1.2" + H("0a 00") + IDLE)
    assert out[0] == VersionReply("TSP143IIIW Ver1.2")
    assert isinstance(out[-1], AsbStatus)


def test_xon_xoff_inside_a_block() -> None:
    data = IDLE[:4] + H("13") + IDLE[4:] + H("11")
    out = events(data)
    assert out[0] == FlowControl(xon=False)
    assert isinstance(out[2], AsbStatus) and out[2].raw == IDLE
    assert out[3] == FlowControl(xon=True)


def test_a_broken_block_is_garbage_and_the_next_reply_survives() -> None:
    # 0x23 announces 9 bytes, but a byte with bit 0 set cuts it short after three.
    out = events(H("23 06 00 ff") + IDLE)
    assert out[0] == Garbage(H("23 06 00 ff"))
    assert isinstance(out[-1], AsbStatus) and out[-1].raw == IDLE


def test_a_second_header_restarts() -> None:
    out = events(H("23 06 00") + IDLE)
    assert out[0] == Garbage(H("23 06 00"))
    assert isinstance(out[-1], AsbStatus)


def test_ethernet_expansion_is_skipped() -> None:
    expanded = bytes((IDLE[0], IDLE[1] | 0x80)) + IDLE[2:] + H("00 03") + H("11 13 aa")
    out = events(expanded + block(counter=2))
    statuses = [e for e in out if isinstance(e, AsbStatus)]
    assert len(statuses) == 2
    assert [e for e in out if isinstance(e, EtbCounter)] == [EtbCounter(0, False),
                                                              EtbCounter(2, False)]
    assert not [e for e in out if isinstance(e, FlowControl | Garbage)]


def test_bad_version_reply_is_garbage() -> None:
    out = events(H("1b 23 2a 2c 41 07") + IDLE)
    assert out[0] == Garbage(H("1b 23 2a 2c 41 07"))
    assert isinstance(out[-1], AsbStatus)


def test_flags_reject_a_non_block() -> None:
    with pytest.raises(ValueError):
        star.flags_from_star_asb(H("23 06 01 00 00 00 00 00 00"))
    with pytest.raises(ValueError):
        star.flags_from_star_asb(IDLE[:-1])


STREAM = (IDLE + H("1b 23 2a 2c") + b"X Ver1" + H("0a 00") + H("ff 11")
          + block(status4=0x08, counter=3) + H("23 06") + IDLE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_events_do_not_depend_on_chunking(cuts: list[int]) -> None:
    whole = [e for e in events(STREAM) if not isinstance(e, Garbage)]
    parser = StarStreamParser()
    got: list[object] = []
    at = 0
    for cut in [*sorted(cuts), len(STREAM)]:
        got += parser.feed(STREAM[at:cut])
        at = cut
    assert [e for e in got if not isinstance(e, Garbage)] == whole
    junk = b"".join(e.data for e in got if isinstance(e, Garbage))
    assert junk == b"".join(e.data for e in events(STREAM) if isinstance(e, Garbage))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_without_error(data: bytes) -> None:
    StarStreamParser().feed(data)
