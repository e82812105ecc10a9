"""Pure ESC/POS codec: command builders, the reply-stream parser, status decoding.

No I/O, no threads, no logging: every function maps bytes to values. The reference is
``PROTOCOL.md`` (Epson-class printers); comments here say what the protocol requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final, TypeAlias

DLE: Final = 0x10
EOT: Final = 0x04
ENQ: Final = 0x05
DC4: Final = 0x14
ESC: Final = 0x1B
GS: Final = 0x1D
NUL: Final = 0x00
XON: Final = 0x11
XOFF: Final = 0x13

HEADER_37: Final = 0x37  # "header to NUL" replies of GS ( H, DLE DC4 8, GS ( E, ...
HEADER_5F: Final = 0x5F  # "header to NUL" replies of GS I n>=65 and GS g 2
POWER_ON_NOTICE: Final = b"\x3b\x31\x00"

# Kinds (second byte) of 0x37 header blocks.
KIND_USER_SETTING: Final = 0x20
KIND_MEMORY_SWITCH: Final = 0x21
KIND_PROCESS_ID: Final = 0x22
KIND_OFFLINE_RESPONSE: Final = 0x23
KIND_BUFFER_CLEARED: Final = 0x25

MAX_BLOCK_LEN: Final = 512
"""Longest header block (opener + payload, without the NUL) the parser waits for."""


# -- status flags -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusFlags:
    """What the printer last said about itself.

    ``drawer_open`` is the level of drawer-kick connector pin 3 (high = True); whether high
    means open depends on how the drawer's switch is wired.
    """

    offline: bool = False
    cover_open: bool = False
    paper_near_end: bool = False
    paper_end: bool = False
    cutter_error: bool = False
    recoverable_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    drawer_open: bool = False
    feed_button: bool = False


# DLE EOT n reply bits -> StatusFlags field; a field is True when any bit of its mask is set.
# Each field has exactly one owner among n = 1..4, so polling n=1..4 in any order converges and
# two replies never fight over one field. Bits left out on purpose:
#   n=1 bit 5 "waiting for online recovery" and n=2 bit 6 "an error occurred" are summaries of
#     what n=3 reports in detail;
#   n=1 bit 6 "FEED button pressed" duplicates n=2 bit 3 "paper fed by FEED button", which is
#     what ASB byte 1 bit 6 reports, so n=2 owns ``feed_button``;
#   n=2 bit 5 "stopped: paper end" is the consequence of the roll-paper sensor n=4 reports.
# n=4 reports near-end and paper end on two bits each (two sensors, or a doubled bit).
DLE_EOT_FIELDS: Final[Mapping[int, tuple[tuple[int, str], ...]]] = {
    1: ((0x04, "drawer_open"), (0x08, "offline")),
    2: ((0x04, "cover_open"), (0x08, "feed_button")),
    3: (
        (0x04, "recoverable_error"),
        (0x08, "cutter_error"),
        (0x20, "unrecoverable_error"),
        (0x40, "auto_recoverable_error"),
    ),
    4: ((0x0C, "paper_near_end"), (0x60, "paper_end")),
}

# ASB block (byte index, mask, field). Byte 4 is reserved.
ASB_FIELDS: Final[tuple[tuple[int, int, str], ...]] = (
    (0, 0x04, "drawer_open"),
    (0, 0x08, "offline"),
    (0, 0x20, "cover_open"),
    (0, 0x40, "feed_button"),
    (1, 0x04, "recoverable_error"),
    (1, 0x08, "cutter_error"),
    (1, 0x20, "unrecoverable_error"),
    (1, 0x40, "auto_recoverable_error"),
    (2, 0x03, "paper_near_end"),
    (2, 0x0C, "paper_end"),
)

# Fixed bits: a DLE EOT reply is 0xx1xx10, an ASB first byte 0xx1xx00, ASB bytes 2-4 0xx0xxxx.
_FIXED_MASK: Final = 0x93
_DLE_EOT_PATTERN: Final = 0x12
_ASB_FIRST_PATTERN: Final = 0x10
_ASB_REST_MASK: Final = 0x90


def is_dle_eot_reply(b: int) -> bool:
    """True for a byte of the DLE EOT reply pattern ``0xx1xx10``."""
    return b & _FIXED_MASK == _DLE_EOT_PATTERN


def is_asb_first(b: int) -> bool:
    """True for a byte of the ASB first-byte pattern ``0xx1xx00``."""
    return b & _FIXED_MASK == _ASB_FIRST_PATTERN


def is_asb_rest(b: int) -> bool:
    """True for a byte that can be ASB byte 2, 3 or 4 (pattern ``0xx0xxxx``)."""
    return b & _ASB_REST_MASK == 0


def flags_from_asb(raw4: bytes) -> StatusFlags:
    """Decode a 4-byte ASB block. ValueError if it does not have the ASB bit pattern."""
    if len(raw4) != 4 or not is_asb_first(raw4[0]) or not all(map(is_asb_rest, raw4[1:])):
        raise ValueError(f"not an ASB block: {raw4.hex(' ')}")
    return StatusFlags(**{field: bool(raw4[i] & mask) for i, mask, field in ASB_FIELDS})


def merge_dle_eot(flags: StatusFlags, n: int, value: int) -> StatusFlags:
    """Replace the fields that DLE EOT ``n`` reports with its reply ``value``; keep the others."""
    table = DLE_EOT_FIELDS.get(n)
    if table is None:
        raise ValueError(f"DLE EOT n must be 1..4, not {n!r}")
    if not 0 <= value <= 0xFF or not is_dle_eot_reply(value):
        raise ValueError(f"not a DLE EOT reply byte: {value!r}")
    return replace(flags, **{field: bool(value & mask) for mask, field in table})


# -- command builders ---------------------------------------------------------------------------


def init() -> bytes:
    """ESC @: initialise (clears the print buffer, not the receive buffer)."""
    return bytes((ESC, 0x40))


def dle_eot(n: int) -> bytes:
    """DLE EOT n: real-time status, answered by one byte even when offline."""
    if n not in DLE_EOT_FIELDS:
        raise ValueError(f"DLE EOT n must be 1..4, not {n!r}")
    return bytes((DLE, EOT, n))


ASB_DRAWER: Final = 0x01
ASB_ONLINE: Final = 0x02
ASB_ERROR: Final = 0x04
ASB_PAPER: Final = 0x08
ASB_PANEL: Final = 0x40
_ASB_BITS: Final = ASB_DRAWER | ASB_ONLINE | ASB_ERROR | ASB_PAPER | ASB_PANEL


def enable_asb(mask: int = ASB_ONLINE | ASB_ERROR | ASB_PAPER | ASB_PANEL) -> bytes:
    """GS a n: Automatic Status Back for the items in ``mask`` (0 disables).

    The default, 0x4E, leaves out the drawer: a drawer sensor that bounces would flood the
    stream. Bits 4, 5 and 7 are undefined and rejected.
    """
    if not 0 <= mask <= 0xFF or mask & ~_ASB_BITS:
        raise ValueError(f"ASB mask may only use bits 0x{_ASB_BITS:02X}, not {mask!r}")
    return bytes((GS, 0x61, mask))


def _check_pid(pid: str) -> bytes:
    if len(pid) != 4 or not all(0x20 <= ord(c) <= 0x7E for c in pid):
        raise ValueError(f"a process ID is 4 characters 0x20-0x7E, not {pid!r}")
    return pid.encode("ascii")


def process_id(pid: str) -> bytes:
    """GS ( H fn 48: the printer answers ``37 22 pid 00`` once everything before is printed."""
    return b"\x1d\x28\x48\x06\x00\x30\x30" + _check_pid(pid)


# Process IDs are a counter written in base 94 with the digits 0x21 '!' .. 0x7E '~' (space is
# allowed by the printer but left out so IDs survive trimming in logs), most significant digit
# first, so that string order equals numeric order. The counter wraps after PID_MODULUS values
# (78,074,896): compare two IDs as (decode_pid(b) - decode_pid(a)) % PID_MODULUS.
_PID_BASE: Final = 94
_PID_FIRST: Final = 0x21
_PID_DIGITS: Final = 4
PID_MODULUS: Final = _PID_BASE**_PID_DIGITS


def encode_pid(k: int) -> str:
    """Counter value ``k >= 0`` -> 4 printable characters; ``k`` wraps modulo PID_MODULUS."""
    if k < 0:
        raise ValueError(f"a process ID counter is >= 0, not {k!r}")
    k %= PID_MODULUS
    digits = []
    for _ in range(_PID_DIGITS):
        k, d = divmod(k, _PID_BASE)
        digits.append(chr(_PID_FIRST + d))
    return "".join(reversed(digits))


def decode_pid(s: str) -> int:
    """Inverse of ``encode_pid`` (0 <= result < PID_MODULUS)."""
    if len(s) != _PID_DIGITS or not all(_PID_FIRST <= ord(c) < _PID_FIRST + _PID_BASE for c in s):
        raise ValueError(f"not a process ID made by encode_pid: {s!r}")
    k = 0
    for c in s:
        k = k * _PID_BASE + ord(c) - _PID_FIRST
    return k


def offline_response() -> bytes:
    """GS ( H fn 49 d=2: send ``37 23 cause… 00`` whenever the printer goes offline."""
    return b"\x1d\x28\x48\x03\x00\x31\x30\x02"


# m=2 (extended ASB) and m=5 (battery) answer with blocks this parser does not classify.
_STATUS_NOW: Final = frozenset({1, 4})


def request_status_now(m: int = 1) -> bytes:
    """DLE DC4 7 m: m=1 sends an ASB block now, m=4 an offline response, real-time."""
    if m not in _STATUS_NOW:
        raise ValueError(f"DLE DC4 7 m must be 1 or 4, not {m!r}")
    return bytes((DLE, DC4, 0x07, m))


def clear_buffers() -> bytes:
    """DLE DC4 8: clear receive and print buffers (real-time); reply ``37 25 00``.

    Process IDs still in the buffer are thrown away with it and never answer.
    """
    return b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08"


def recover(n: int) -> bytes:
    """DLE ENQ n: leave a recoverable error; n=1 reprint from the failed line, 2 clear buffers."""
    if n not in (1, 2):
        raise ValueError(f"DLE ENQ n must be 1 or 2, not {n!r}")
    return bytes((DLE, ENQ, n))


# n=1..3 (and ASCII 49..51) answer one byte 0xx0xxxx; n=65..69 a 0x5F block. Other n answer in
# formats the parser does not know.
_IDENTITY: Final = frozenset({1, 2, 3, 49, 50, 51, 65, 66, 67, 68, 69})


def identity(n: int) -> bytes:
    """GS I n: printer identity.

    The one-byte answers to n=1..3 match no reply pattern, so ``StreamParser`` reports them as
    ``Garbage``: only the sender knows that the next lone ``0xx0xxxx`` byte is the answer.
    """
    if n not in _IDENTITY:
        raise ValueError(f"GS I n must be one of {sorted(_IDENTITY)}, not {n!r}")
    return bytes((GS, 0x49, n))


_COUNTERS: Final = frozenset({20, 21, 50, 70})  # feed lines, head energizing, cuts, hours
CUMULATIVE: Final = 128


def maintenance_counter(n: int) -> bytes:
    """GS g 2: read maintenance counter n (+128 for the cumulative value); reply 0x5F block."""
    if n not in _COUNTERS and n - CUMULATIVE not in _COUNTERS:
        raise ValueError(f"unknown maintenance counter {n!r}")
    return bytes((GS, 0x67, 0x32, 0x00, n & 0xFF, n >> 8))


_REACHED: Final = frozenset({1, 2, 4, 49, 50, 52})


def status_when_reached(n: int = 1) -> bytes:
    """GS r n: status sent when the command is reached in the buffer (not real-time).

    Its one-byte answer (``0xx0xxxx``) matches no reply pattern and comes back as ``Garbage``.
    """
    if n not in _REACHED:
        raise ValueError(f"GS r n must be one of {sorted(_REACHED)}, not {n!r}")
    return bytes((GS, 0x72, n))


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealTimeStatus:
    """A DLE EOT reply byte. Which n it answers is known only to whoever asked."""

    value: int


@dataclass(frozen=True, slots=True)
class AsbStatus:
    raw: bytes
    flags: StatusFlags


@dataclass(frozen=True, slots=True)
class ProcessIdReply:
    """``37 22 d1..d4 00``: everything sent before that GS ( H fn 48 has been printed."""

    pid: str


@dataclass(frozen=True, slots=True)
class OfflineResponse:
    """``37 23 cause… 00``; cause bytes are model-dependent (0x40-0x7F), empty for d=1."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class BufferCleared:
    """``37 25 00``: DLE DC4 8 was executed."""


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """Any other ``37 kind … 00`` block (0x20 user setting, 0x21 memory switch, ...)."""

    kind: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class InfoBlock:
    """``5F … 00``: the answer to GS I n>=65 or GS g 2 (ASCII)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class PowerOn:
    """``3B 31 00``: the printer was reset; its buffers and settings (ASB, offline response,
    pending process IDs) are gone."""


@dataclass(frozen=True, slots=True)
class FlowControl:
    xon: bool


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that form no reply; consecutive ones are reported together."""

    data: bytes


Event: TypeAlias = (
    RealTimeStatus
    | AsbStatus
    | ProcessIdReply
    | OfflineResponse
    | BufferCleared
    | HeaderBlock
    | InfoBlock
    | PowerOn
    | FlowControl
    | Garbage
)


# -- stream parser ------------------------------------------------------------------------------


class _Mode(Enum):
    IDLE = "idle"
    ASB = "asb"
    HEADER = "header"
    POWER_ON = "power_on"


def _breaks_header(b: int) -> bool:
    # Documented header payloads are 0x1F (Epson's field separator) and up: process IDs
    # 0x20-0x7E, offline causes 0x40-0x7F, GS I / GS g 2 ASCII. A lower control byte means the
    # block was cut short; it may start the next reply (0x10 idle ASB, 0x12 DLE EOT reply).
    return 0x01 <= b <= 0x1E


class StreamParser:
    """Splits the printer's reply stream into events; state carries over between feeds.

    Classification (PROTOCOL.md, "Splitting one reply stream"), byte by byte:

    * ``0x11`` / ``0x13`` are XON / XOFF wherever they occur, also inside a block: a serial
      interface sends them whenever its receive buffer fills, independent of the reply it is
      transmitting, and no reply contains them (ASB bytes 2-4 have bit 4 clear, header
      payloads are >= 0x1F, the single-byte patterns have bit 0 clear).
    * ``0xx1xx10`` is a DLE EOT reply; ``0xx1xx00`` starts a 4-byte ASB block whose other bytes
      must be ``0xx0xxxx``. A byte that breaks the pattern ends the block as garbage and is
      classified afresh, so a stray first byte cannot swallow a real reply (those all have bit
      4 set).
    * ``0x37`` / ``0x5F`` open a header block that runs to NUL. It is garbage if it grows past
      ``max_block`` bytes (then classification restarts with the next byte) or if a control
      byte 0x01-0x1E arrives first (classified afresh). ``37 00`` (no kind byte) and a
      malformed process-ID or buffer-cleared block are garbage too.
    * ``3B 31 00`` is the power-on notice; a ``3B`` or ``3B 31`` that goes on differently is
      garbage and the differing byte is classified afresh.
    * Anything else is garbage: collected, and reported as one ``Garbage`` event just before
      the next other event or at the end of ``feed()``.

    So the events do not depend on how the stream was chunked, except that a run of garbage
    that spans feeds is reported as one ``Garbage`` per feed.

    One-byte answers to GS I 1..3 and GS r (``0xx0xxxx``) match no pattern and come out as
    ``Garbage``; only the sender of the request can tell.
    """

    def __init__(self, max_block: int = MAX_BLOCK_LEN) -> None:
        if max_block < 2:
            raise ValueError("max_block must leave room for a header block")
        self._max_block = max_block
        self._mode = _Mode.IDLE
        self._block = bytearray()
        self._junk = bytearray()

    def reset(self) -> None:
        """Forget any partial block (e.g. after reconnecting the link)."""
        self._mode = _Mode.IDLE
        self._block.clear()
        self._junk.clear()

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for b in data:
            self._step(b, out)
        self._flush_junk(out)
        return out

    # -- internals

    def _emit(self, out: list[Event], event: Event) -> None:
        self._flush_junk(out)
        out.append(event)

    def _flush_junk(self, out: list[Event]) -> None:
        if self._junk:
            out.append(Garbage(bytes(self._junk)))
            self._junk.clear()

    def _abandon(self, *extra: int) -> None:
        """The block in progress is not a reply: its bytes become garbage."""
        self._junk += self._block
        self._junk += bytes(extra)
        self._block.clear()
        self._mode = _Mode.IDLE

    def _step(self, b: int, out: list[Event]) -> None:
        if b in (XON, XOFF):
            self._emit(out, FlowControl(xon=b == XON))
            return
        mode = self._mode
        if mode is _Mode.IDLE:
            self._start(b, out)
        elif mode is _Mode.ASB:
            if not is_asb_rest(b):
                self._abandon()
                self._start(b, out)
                return
            self._block.append(b)
            if len(self._block) == 4:
                raw = bytes(self._block)
                self._block.clear()
                self._mode = _Mode.IDLE
                self._emit(out, AsbStatus(raw, flags_from_asb(raw)))
        elif mode is _Mode.POWER_ON:
            if b != POWER_ON_NOTICE[len(self._block)]:
                self._abandon()
                self._start(b, out)
                return
            self._block.append(b)
            if len(self._block) == len(POWER_ON_NOTICE):
                self._block.clear()
                self._mode = _Mode.IDLE
                self._emit(out, PowerOn())
        else:  # _Mode.HEADER
            if b == NUL:
                self._end_header(out)
            elif _breaks_header(b):
                self._abandon()
                self._start(b, out)
            else:
                self._block.append(b)
                if len(self._block) > self._max_block:
                    self._abandon()

    def _start(self, b: int, out: list[Event]) -> None:
        if is_dle_eot_reply(b):
            self._emit(out, RealTimeStatus(b))
        elif is_asb_first(b):
            self._mode = _Mode.ASB
            self._block.append(b)
        elif b in (HEADER_37, HEADER_5F):
            self._mode = _Mode.HEADER
            self._block.append(b)
        elif b == POWER_ON_NOTICE[0]:
            self._mode = _Mode.POWER_ON
            self._block.append(b)
        else:
            self._junk.append(b)

    def _end_header(self, out: list[Event]) -> None:
        event = _classify_header(bytes(self._block))
        if event is None:
            self._abandon(NUL)
            return
        self._block.clear()
        self._mode = _Mode.IDLE
        self._emit(out, event)


def _classify_header(block: bytes) -> Event | None:
    """A complete header block (without its NUL) -> event, or None if malformed."""
    if block[0] == HEADER_5F:
        return InfoBlock(block[1:])
    if len(block) < 2:
        return None
    kind, payload = block[1], block[2:]
    if kind == KIND_PROCESS_ID:
        if len(payload) != 4 or not all(0x20 <= c <= 0x7E for c in payload):
            return None
        return ProcessIdReply(payload.decode("ascii"))
    if kind == KIND_OFFLINE_RESPONSE:
        return OfflineResponse(payload)
    if kind == KIND_BUFFER_CLEARED:
        return BufferCleared() if not payload else None
    return HeaderBlock(kind, payload)
