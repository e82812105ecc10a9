"""receiptd.protocol on byte fixtures (docs/PROTOCOL.md) and hypothesis properties."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiptd import protocol as p
from receiptd.protocol import (
    AsbStatus,
    BufferCleared,
    Event,
    FlowControl,
    Garbage,
    HeaderBlock,
    InfoBlock,
    OfflineResponse,
    PowerOn,
    ProcessIdReply,
    RealTimeStatus,
    StatusFlags,
    StreamParser,
)

H = bytes.fromhex
FIELDS = [f.name for f in dataclasses.fields(StatusFlags)]
ALL_TRUE = StatusFlags(**dict.fromkeys(FIELDS, True))


def only(*names: str) -> StatusFlags:
    return StatusFlags(**dict.fromkeys(names, True))


def asb(hex4: str) -> AsbStatus:
    raw = H(hex4)
    return AsbStatus(raw, p.flags_from_asb(raw))


def feed_all(data: bytes, cuts: Sequence[int] = ()) -> list[Event]:
    """Feed ``data`` split at ``cuts`` through one parser; all events in order."""
    parser = StreamParser()
    events: list[Event] = []
    bounds = [0, *sorted(set(cuts)), len(data)]
    for a, b in itertools.pairwise(bounds):
        events += parser.feed(data[a:b])
    return events


def merge_garbage(events: Sequence[Event]) -> list[Event]:
    out: list[Event] = []
    for e in events:
        if isinstance(e, Garbage) and out and isinstance(out[-1], Garbage):
            out[-1] = Garbage(out[-1].data + e.data)
        else:
            out.append(e)
    return out


# -- builders -----------------------------------------------------------------------------------

BUILDERS: list[tuple[Callable[[], bytes], str]] = [
    (p.init, "1b 40"),
    (lambda: p.dle_eot(1), "10 04 01"),
    (lambda: p.dle_eot(4), "10 04 04"),
    (p.enable_asb, "1d 61 4e"),
    (lambda: p.enable_asb(0), "1d 61 00"),
    (lambda: p.enable_asb(0x4F), "1d 61 4f"),
    (lambda: p.process_id("ABCD"), "1d 28 48 06 00 30 30 41 42 43 44"),
    (lambda: p.process_id(" ~!0"), "1d 28 48 06 00 30 30 20 7e 21 30"),
    (p.offline_response, "1d 28 48 03 00 31 30 02"),
    (p.request_status_now, "10 14 07 01"),
    (lambda: p.request_status_now(4), "10 14 07 04"),
    (p.clear_buffers, "10 14 08 01 03 14 01 06 02 08"),
    (lambda: p.recover(1), "10 05 01"),
    (lambda: p.recover(2), "10 05 02"),
    (lambda: p.identity(2), "1d 49 02"),
    (lambda: p.identity(67), "1d 49 43"),
    (lambda: p.maintenance_counter(50), "1d 67 32 00 32 00"),
    (lambda: p.maintenance_counter(50 + 128), "1d 67 32 00 b2 00"),
    (p.status_when_reached, "1d 72 01"),
]


@pytest.mark.parametrize(("build", "expected"), BUILDERS)
def test_builders(build: Callable[[], bytes], expected: str) -> None:
    assert build() == H(expected)


BAD_ARGS: list[tuple[Callable[..., bytes], object]] = [
    (p.dle_eot, 0),
    (p.dle_eot, 5),
    (p.enable_asb, 0x100),
    (p.enable_asb, -1),
    (p.enable_asb, 0x10),  # undefined bit
    (p.process_id, "ABC"),
    (p.process_id, "ABCDE"),
    (p.process_id, "AB\x1fC"),
    (p.process_id, "AB\x7fC"),
    (p.process_id, "ABCé"),
    (p.request_status_now, 3),
    (p.recover, 0),
    (p.recover, 3),
    (p.identity, 0),
    (p.identity, 70),
    (p.maintenance_counter, 22),
    (p.status_when_reached, 3),
]


@pytest.mark.parametrize(("build", "arg"), BAD_ARGS)
def test_builders_reject(build: Callable[..., bytes], arg: object) -> None:
    with pytest.raises(ValueError):
        build(arg)


@pytest.mark.parametrize(
    ("k", "pid"),
    [(0, "!!!!"), (1, '!!!"'), (93, "!!!~"), (94, '!!"!'), (p.PID_MODULUS - 1, "~~~~")],
)
def test_encode_pid(k: int, pid: str) -> None:
    assert p.encode_pid(k) == pid
    assert p.decode_pid(pid) == k


def test_encode_pid_wraps() -> None:
    assert p.encode_pid(p.PID_MODULUS) == "!!!!"
    assert p.encode_pid(p.PID_MODULUS + 5) == p.encode_pid(5)
    with pytest.raises(ValueError):
        p.encode_pid(-1)


@pytest.mark.parametrize("bad", ["", "!!!", "!!!!!", "!! !", "!!\x7f!"])
def test_decode_pid_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        p.decode_pid(bad)


@given(st.integers(min_value=0, max_value=p.PID_MODULUS - 1))
def test_pid_roundtrip_printable_and_usable(k: int) -> None:
    pid = p.encode_pid(k)
    assert p.decode_pid(pid) == k
    assert p.process_id(pid).endswith(pid.encode())


@given(st.integers(0, p.PID_MODULUS - 2), st.integers(1, 1000))
def test_pid_string_order_is_numeric_order(k: int, d: int) -> None:
    j = min(k + d, p.PID_MODULUS - 1)
    assert p.encode_pid(k) < p.encode_pid(j)


def test_process_id_alphabet() -> None:
    # Any 4 characters 20-7E go out and come back; the probe is one of them, with a space.
    printable = "".join(map(chr, range(0x20, 0x7F)))
    assert printable == p.PID_CHARS
    assert p.PID_LENGTH == 4
    assert p.is_pid(p.PROBE_PID) and p.is_pid(" ~!0") and p.is_pid("~~~~")
    for bad in ("", "ABC", "ABCDE", "AB\x7fD", "AB\x1fD", "ABC\u00e9"):
        assert not p.is_pid(bad), bad
        with pytest.raises(ValueError):
            p.process_id(bad)
    assert p.process_id(p.PROBE_PID) == bytes.fromhex("1d 28 48 06 00 30 30 50 52 42 20")


# -- status decoding ----------------------------------------------------------------------------

# DLE EOT n x bit -> the one field that bit sets (None: deliberately not mapped).
DLE_EOT_BITS: list[tuple[int, int, str | None]] = [
    (1, 0x04, "drawer_open"),
    (1, 0x08, "offline"),
    (1, 0x20, None),  # waiting for online recovery
    (1, 0x40, None),  # FEED button pressed: n=2 bit 3 owns feed_button
    (2, 0x04, "cover_open"),
    (2, 0x08, "feed_button"),
    (2, 0x20, None),  # stopped by paper end: n=4 owns paper_end
    (2, 0x40, None),  # an error occurred: n=3 has the detail
    (3, 0x04, "recoverable_error"),
    (3, 0x08, "cutter_error"),
    (3, 0x20, "unrecoverable_error"),
    (3, 0x40, "auto_recoverable_error"),
    (4, 0x04, "paper_near_end"),
    (4, 0x08, "paper_near_end"),
    (4, 0x20, "paper_end"),
    (4, 0x40, "paper_end"),
]


@pytest.mark.parametrize(("n", "bit", "field"), DLE_EOT_BITS)
def test_dle_eot_bit(n: int, bit: int, field: str | None) -> None:
    value = 0x12 | bit
    assert p.is_dle_eot_reply(value)
    expected = only(field) if field else StatusFlags()
    assert p.merge_dle_eot(StatusFlags(), n, value) == expected


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_merge_dle_eot_keeps_other_fields(n: int) -> None:
    merged = p.merge_dle_eot(ALL_TRUE, n, 0x12)
    owned = {field for _, field in p.DLE_EOT_FIELDS[n]}
    for name in FIELDS:
        assert getattr(merged, name) is (name not in owned), name


def test_dle_eot_tables_cover_every_field_once() -> None:
    owners = [field for table in p.DLE_EOT_FIELDS.values() for _, field in table]
    assert sorted(set(owners)) == sorted(FIELDS)
    for table in p.DLE_EOT_FIELDS.values():
        masks = [mask for mask, _ in table]
        assert all(mask & 0x93 == 0 for mask in masks)  # never a fixed bit
    assert sorted({field for _, _, field in p.ASB_FIELDS}) == sorted(FIELDS)


@pytest.mark.parametrize(
    ("value", "flags"),
    [
        (0x12, StatusFlags()),
        (0x1E, only("paper_near_end")),
        (0x72, only("paper_end")),
        (0x7E, only("paper_near_end", "paper_end")),
    ],
)
def test_dle_eot_4_examples(value: int, flags: StatusFlags) -> None:
    assert p.merge_dle_eot(StatusFlags(), 4, value) == flags


@pytest.mark.parametrize(("n", "value"), [(0, 0x12), (5, 0x12), (1, 0x10), (1, 0x13), (1, 0x92)])
def test_merge_dle_eot_rejects(n: int, value: int) -> None:
    with pytest.raises(ValueError):
        p.merge_dle_eot(StatusFlags(), n, value)


ASB_EXAMPLES: list[tuple[str, StatusFlags]] = [
    ("10 00 00 00", StatusFlags()),  # idle
    ("18 00 0c 00", only("offline", "paper_end")),  # paper out
    ("38 00 00 00", only("offline", "cover_open")),  # cover open
    ("10 00 03 00", only("paper_near_end")),
    ("14 00 00 00", only("drawer_open")),
    ("50 00 00 00", only("feed_button")),
    ("18 04 00 00", only("offline", "recoverable_error")),
    ("18 08 00 00", only("offline", "cutter_error")),
    ("18 20 00 00", only("offline", "unrecoverable_error")),
    ("18 40 00 00", only("offline", "auto_recoverable_error")),
    ("10 00 01 00", only("paper_near_end")),
    ("10 00 08 00", only("paper_end")),
    ("10 00 00 6f", StatusFlags()),  # byte 4 reserved
]


@pytest.mark.parametrize(("raw", "flags"), ASB_EXAMPLES)
def test_flags_from_asb(raw: str, flags: StatusFlags) -> None:
    assert p.flags_from_asb(H(raw)) == flags


@pytest.mark.parametrize("raw", ["10 00 00", "10 00 00 00 00", "12 00 00 00", "10 10 00 00"])
def test_flags_from_asb_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        p.flags_from_asb(H(raw))


def test_patterns_are_disjoint() -> None:
    for b in range(256):
        kinds = [
            p.is_dle_eot_reply(b),
            p.is_asb_first(b),
            b in (0x11, 0x13, 0x37, 0x5F, 0x3B),
        ]
        assert sum(kinds) <= 1, hex(b)


# -- stream parser: fixtures --------------------------------------------------------------------

PARSE: list[tuple[str, str, list[Event]]] = [
    ("dle eot reply", "12", [RealTimeStatus(0x12)]),
    ("dle eot paper end", "72", [RealTimeStatus(0x72)]),
    ("asb idle", "10 00 00 00", [asb("10 00 00 00")]),
    ("asb paper out", "18 00 0c 00", [asb("18 00 0c 00")]),
    ("asb cover open", "38 00 00 00", [asb("38 00 00 00")]),
    ("xon inside asb", "18 11 00 0c 00", [FlowControl(True), asb("18 00 0c 00")]),
    (
        "xoff inside asb",
        "18 00 13 0c 11 00",
        [FlowControl(False), FlowControl(True), asb("18 00 0c 00")],
    ),
    ("process id", "37 22 41 42 43 44 00", [ProcessIdReply("ABCD")]),
    ("process id space", "37 22 20 7e 21 30 00", [ProcessIdReply(" ~!0")]),
    ("offline response", "37 23 40 41 00", [OfflineResponse(H("40 41"))]),
    ("offline response no cause", "37 23 00", [OfflineResponse(b"")]),
    ("buffer cleared", "37 25 00", [BufferCleared()]),
    ("memory switch", "37 21 30 31 00", [HeaderBlock(0x21, b"01")]),
    ("user setting", "37 20 00", [HeaderBlock(0x20, b"")]),
    ("epson separator", "37 27 31 1f 32 00", [HeaderBlock(0x27, b"1\x1f2")]),
    ("identity", "5f 54 4d 2d 54 38 38 56 00", [InfoBlock(b"TM-T88V")]),
    ("maintenance counter", "5f 31 32 33 00", [InfoBlock(b"123")]),
    ("info with xon", "5f 41 11 42 00", [FlowControl(True), InfoBlock(b"AB")]),
    ("power on", "3b 31 00", [PowerOn()]),
    ("xon xoff", "11 13", [FlowControl(True), FlowControl(False)]),
    ("garbage coalesced", "00 ff 80 01", [Garbage(H("00 ff 80 01"))]),
    ("garbage then asb", "ff 10 00 00 00", [Garbage(H("ff")), asb("10 00 00 00")]),
    (
        "garbage between",
        "12 ff fe 12",
        [RealTimeStatus(0x12), Garbage(H("ff fe")), RealTimeStatus(0x12)],
    ),
    # 3B not followed by 31 00: garbage, and the differing byte is classified afresh.
    ("3b alone", "3b 12", [Garbage(H("3b")), RealTimeStatus(0x12)]),
    ("3b 31 then asb", "3b 31 10 00 00 00", [Garbage(H("3b 31")), asb("10 00 00 00")]),
    ("3b 3b 31 00", "3b 3b 31 00", [Garbage(H("3b")), PowerOn()]),
    # An ASB block broken by a byte with bit 4 or 7 set: the byte starts again.
    ("asb cut by dle eot", "10 00 12", [Garbage(H("10 00")), RealTimeStatus(0x12)]),
    ("asb cut by asb", "10 10 00 00 00", [Garbage(H("10")), asb("10 00 00 00")]),
    (
        "asb cut by process id",
        "18 37 22 41 42 43 44 00",
        [Garbage(H("18")), ProcessIdReply("ABCD")],
    ),
    ("asb cut by high byte", "10 00 80 12", [Garbage(H("10 00 80")), RealTimeStatus(0x12)]),
    # Header blocks broken by a low control byte, or malformed.
    ("header cut by asb", "5f 41 10 00 00 00", [Garbage(H("5f 41")), asb("10 00 00 00")]),
    ("37 without kind", "37 00 12", [Garbage(H("37 00")), RealTimeStatus(0x12)]),
    ("short process id", "37 22 41 42 43 00", [Garbage(H("37 22 41 42 43 00"))]),
    ("process id with high byte", "37 22 41 42 43 c4 00", [Garbage(H("37 22 41 42 43 c4 00"))]),
    ("buffer cleared with data", "37 25 41 00", [Garbage(H("37 25 41 00"))]),
    ("nul alone", "00", [Garbage(H("00"))]),
]


@pytest.mark.parametrize(
    ("data", "events"), [(d, e) for _, d, e in PARSE], ids=[name for name, _, _ in PARSE]
)
def test_parse(data: str, events: list[Event]) -> None:
    assert StreamParser().feed(H(data)) == events


@pytest.mark.parametrize(
    ("data", "events"), [(d, e) for _, d, e in PARSE], ids=[name for name, _, _ in PARSE]
)
def test_parse_byte_by_byte(data: str, events: list[Event]) -> None:
    raw = H(data)
    assert merge_garbage(feed_all(raw, range(1, len(raw)))) == events


def test_process_id_split_byte_by_byte() -> None:
    parser = StreamParser()
    reply = H("37 22 30 31 32 33 00")
    for b in reply[:-1]:
        assert parser.feed(bytes([b])) == []
    assert parser.feed(reply[-1:]) == [ProcessIdReply("0123")]


def test_asb_split_with_flow_control() -> None:
    parser = StreamParser()
    assert parser.feed(H("18")) == []
    assert parser.feed(H("00 13")) == [FlowControl(False)]
    assert parser.feed(H("0c")) == []
    assert parser.feed(H("11 00 12")) == [
        FlowControl(True),
        asb("18 00 0c 00"),
        RealTimeStatus(0x12),
    ]


def test_garbage_is_reported_at_end_of_each_feed() -> None:
    parser = StreamParser()
    assert parser.feed(H("ff")) == [Garbage(H("ff"))]
    assert parser.feed(H("fe 12")) == [Garbage(H("fe")), RealTimeStatus(0x12)]


def test_header_cap() -> None:
    parser = StreamParser(max_block=8)
    block = b"\x5f" + b"A" * 7  # exactly max_block bytes: still waiting for the NUL
    assert parser.feed(block) == []
    assert parser.feed(b"\x00") == [InfoBlock(b"A" * 7)]
    # One more byte than the cap: garbage, and classification restarts after it.
    events = parser.feed(b"\x5f" + b"A" * 8 + b"\x12")
    assert events == [Garbage(b"\x5f" + b"A" * 8), RealTimeStatus(0x12)]


def test_default_header_cap_is_512() -> None:
    long = b"\x5f" + b"9" * 511 + b"\x00"
    assert StreamParser().feed(long) == [InfoBlock(b"9" * 511)]
    too_long = b"\x5f" + b"9" * 512
    assert StreamParser().feed(too_long) == [Garbage(too_long)]


def test_reset_drops_partial_block() -> None:
    parser = StreamParser()
    assert parser.feed(H("37 22 41")) == []
    parser.reset()
    assert parser.feed(H("42 43 44 00")) == [Garbage(H("42 43 44 00"))]


def test_lone_byte_answers_are_garbage() -> None:
    # GS I 1..3 and GS r answers (0xx0xxxx) match no reply pattern.
    assert StreamParser().feed(H("20")) == [Garbage(H("20"))]


# -- stream parser: properties ------------------------------------------------------------------

# Replies the printer can send, with the events they produce (flow control excluded).
_printable = st.binary(min_size=0, max_size=40).map(lambda b: bytes(0x20 + c % 0x5F for c in b))
_dle_eot = (
    st.integers(0, 255).filter(p.is_dle_eot_reply).map(lambda v: (bytes([v]), RealTimeStatus(v)))
)
_asb_raw = st.tuples(
    st.integers(0, 255).filter(p.is_asb_first),
    st.lists(st.integers(0, 255).filter(p.is_asb_rest), min_size=3, max_size=3),
).map(lambda t: bytes([t[0], *t[1]]))
_asb = _asb_raw.map(lambda raw: (raw, AsbStatus(raw, p.flags_from_asb(raw))))
_pid = (
    st.integers(0, p.PID_MODULUS - 1)
    .map(p.encode_pid)
    .map(lambda pid: (b"\x37\x22" + pid.encode() + b"\x00", ProcessIdReply(pid)))
)
_info = _printable.map(lambda t: (b"\x5f" + t + b"\x00", InfoBlock(t)))
_offline = (
    st.binary(max_size=10)
    .map(lambda b: bytes(0x40 + c % 0x40 for c in b))
    .map(lambda c: (b"\x37\x23" + c + b"\x00", OfflineResponse(c)))
)
_other_header = st.tuples(
    st.integers(0x20, 0xFF).filter(lambda k: k not in (0x22, 0x23, 0x25)), _printable
).map(lambda t: (bytes([0x37, t[0]]) + t[1] + b"\x00", HeaderBlock(t[0], t[1])))
_fixed = st.sampled_from([(b"\x37\x25\x00", BufferCleared()), (b"\x3b\x31\x00", PowerOn())])
REPLY = st.one_of(_dle_eot, _asb, _pid, _info, _offline, _other_header, _fixed)


@st.composite
def reply_stream(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """Valid replies, each possibly with XON/XOFF injected inside it, and the expected events."""
    data = bytearray()
    events: list[Event] = []
    for raw, event in draw(st.lists(REPLY, max_size=12)):
        flow = draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.booleans()), max_size=2))
        chunk = bytearray(raw)
        for at, xon in sorted(flow, reverse=True):
            chunk.insert(at, 0x11 if xon else 0x13)
        # Flow control is reported as it arrives; the reply when its last byte does.
        for _, xon in sorted(flow):
            events.append(FlowControl(xon))
        events.append(event)
        data += chunk
    return bytes(data), events


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[int]:
    return draw(st.lists(st.integers(0, len(data)), max_size=len(data) + 1))


@given(st.binary(max_size=600), st.data())
def test_feed_never_raises_and_chunking_only_splits_garbage(data: bytes, d: st.DataObject) -> None:
    whole = StreamParser().feed(data)
    # One feed never reports two garbage runs in a row.
    assert merge_garbage(whole) == whole
    cuts = d.draw(chunked(data))
    assert merge_garbage(feed_all(data, cuts)) == whole


@given(reply_stream(), st.data())
def test_valid_stream_parses_exactly_under_any_chunking(
    stream: tuple[bytes, list[Event]], d: st.DataObject
) -> None:
    data, expected = stream
    assert StreamParser().feed(data) == expected
    # No garbage here, so chunking changes nothing at all.
    assert feed_all(data, d.draw(chunked(data))) == expected


def _no_header_openers(b: bytes) -> bytes:
    # 0x37 / 0x5F open a block that may legitimately contain the next reply's bytes.
    return bytes(c for c in b if c not in (0x37, 0x5F))


@given(st.binary(max_size=200).map(_no_header_openers), REPLY, st.data())
def test_valid_reply_after_garbage_is_recognised(
    garbage: bytes, reply: tuple[bytes, Event], d: st.DataObject
) -> None:
    raw, event = reply
    data = garbage + raw
    events = feed_all(data, d.draw(chunked(data)))
    assert events[-1] == event


@given(st.binary(max_size=200), REPLY)
def test_three_nuls_resynchronise_after_any_garbage(
    garbage: bytes, reply: tuple[bytes, Event]
) -> None:
    # NUL ends a header block and completes any partial ASB block or power-on notice, so after
    # three of them the parser is between replies whatever came before.
    raw, event = reply
    assert StreamParser().feed(garbage + b"\x00\x00\x00" + raw)[-1] == event


def _bytes_of(event: Event) -> bytes:
    match event:
        case RealTimeStatus(value=v):
            return bytes([v])
        case AsbStatus(raw=raw):
            return raw
        case ProcessIdReply(pid=pid):
            return b"\x37\x22" + pid.encode() + b"\x00"
        case OfflineResponse(payload=payload):
            return b"\x37\x23" + payload + b"\x00"
        case BufferCleared():
            return b"\x37\x25\x00"
        case HeaderBlock(kind=kind, payload=payload):
            return bytes([0x37, kind]) + payload + b"\x00"
        case InfoBlock(payload=payload):
            return b"\x5f" + payload + b"\x00"
        case PowerOn():
            return b"\x3b\x31\x00"
        case FlowControl(xon=xon):
            return b"\x11" if xon else b"\x13"
        case Garbage(data=data):
            return data
    raise AssertionError(event)


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_every_byte_is_accounted_for(data: bytes) -> None:
    data += b"\x00\x00\x00"  # flush any partial block
    events = StreamParser().feed(data)
    assert sorted(b"".join(map(_bytes_of, events))) == sorted(data)
