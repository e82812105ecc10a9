"""Pure Star Line Mode codec: the commands the session sends a Star printer, and its replies.

No I/O, no threads, no clock. The reference is Star's "STAR Line Mode Command Specifications"
(section and appendix names below are that document's; StarPRNT models answer the same way):

* chapter 3, "ESC RS a n" (automatic status on/off), "ETB" (update the ASB ETB counter),
  "ESC RS E n" (clear the ETB counter), "ESC ACK SOH" (status inquiry, real time),
  "ESC # * LF NUL" (printer version inquiry);
* appendix "Automatic Status" (5.2.3): Header-1, Header-2, printer status 1-7 and the
  "Status identification method" table that tells an ASB byte from XON / XOFF.

``StarStreamParser`` turns the reply stream into the event types of the ESC/POS parser
(``AsbStatus`` with ``StatusFlags``, ``FlowControl``, ``Garbage``) plus two of Star's own:
``EtbCounter`` (the counter an ASB carries) and ``VersionReply``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias

from receiptd.protocol.replies import AsbStatus, FlowControl, Garbage
from receiptd.protocol.status import StatusFlags

ESC: Final = 0x1B
RS: Final = 0x1E
ACK: Final = 0x06
SOH: Final = 0x01
CAN: Final = 0x18
ETB: Final = 0x17
LF: Final = 0x0A
NUL: Final = 0x00
XON: Final = 0x11
XOFF: Final = 0x13

# ---------------------------------------------------------------------------- commands


def init() -> bytes:
    """ESC @: initialise the print settings. It leaves the automatic-status setting alone
    ("ESC RS a n": "settings of this command are unaffected by ESC @")."""
    return bytes((ESC, 0x40))


def enable_asb(on: bool = True) -> bytes:
    """ESC RS a n: automatic status valid (n=1) or invalid (n=0).

    Chapter 3 "ESC RS a n": it also sends one automatic status when executed. It is read from
    the receive buffer in order (not real time). Over Ethernet the printer ignores it and
    keeps automatic status on."""
    return bytes((ESC, RS, 0x61, 1 if on else 0))


def etb() -> bytes:
    """ETB: once everything before it is printed, add 1 to the ASB ETB counter, set the "ETB
    command executed" bit and send an automatic status (chapter 3 "ETB", steps 1-4)."""
    return bytes((ETB,))


def clear_etb_counter() -> bytes:
    """ESC RS E n (n=0): set the ETB counter to 0 and clear the ETB status. No automatic
    status is sent for it (chapter 3 "ESC RS E n"). Read from the buffer in order."""
    return bytes((ESC, RS, 0x45, 0x00))


def status_request() -> bytes:
    """ESC ACK SOH: the printer answers with one automatic status block, real time (executed
    on reception, not taken from the receive buffer)."""
    return bytes((ESC, ACK, SOH))


def printer_reset() -> bytes:
    """ESC ACK CAN: real-time printer reset. On arrival the printer drops its receive and
    print buffers, and its print modes, automatic-status setting and ETB counter go back to
    their power-on values; a cutter error or jam is left. No status is sent for it."""
    return bytes((ESC, ACK, CAN))


def version_request() -> bytes:
    """ESC # * LF NUL: the printer answers ``ESC # * , <version text> LF NUL``."""
    return bytes((ESC, 0x23, 0x2A, LF, NUL))


# ---------------------------------------------------------------------------- the ETB counter

#: "This counter is the 5 bit ETB counter. It counts from 0 to 31; when it overflows it
#: counts up from 31 to 0" (appendix 5.2.3, printer status 6).
ETB_MODULUS: Final = 32


def etb_advance(old: int, new: int) -> int:
    """How many ETBs took the counter from ``old`` to ``new`` (0..31: the counter wraps, so a
    caller must keep fewer than 32 ETBs unaccounted for)."""
    return (new - old) % ETB_MODULUS


# ---------------------------------------------------------------------------- status blocks

#: Header-1 of an automatic status: "bit 0 is 1 and bit 4 is 0" (and bit 7 is 0, "Status
#: identification method"). Every later byte of the block has bits 0, 4 and 7 at 0.
_HEADER1_MASK: Final = 0x91
_HEADER1_PATTERN: Final = 0x01
_REST_MASK: Final = 0x91
#: Header-2 bit 7: "ASB status expansion" (Ethernet): a 2-byte length and that much status
#: data follow the block ("Printer Status Transmission Specification", Ethernet).
_HEADER2_EXPANSION: Final = 0x80
_HEADER2_MASK: Final = 0x11
MIN_ASB_LEN: Final = 7  # Header-1 table: 7 to 15 bytes, headers included
MAX_EXPANSION_LEN: Final = 0x200  # "0x0000 <= Length <= 0x0200"

# (byte index in the block, mask, StatusFlags field). Indices count from Header-1 = 0.
STATUS_FIELDS: Final[tuple[tuple[int, int, str], ...]] = (
    # Printer status 1 (3rd byte)
    (2, 0x04, "drawer_open"),  # bit 2: compulsion switch closed (drawer kick connector)
    (2, 0x08, "offline"),  # bit 3: ON-LINE / OFF-LINE status
    (2, 0x20, "cover_open"),  # bit 5: cover status, 1 = open
    (2, 0x40, "offline"),  # bit 6: OFFLINE by switch input
    # Printer status 2, error information (4th byte)
    (3, 0x04, "recoverable_error"),  # bit 2: mechanical error
    (3, 0x08, "cutter_error"),  # bit 3: auto-cutter error
    (3, 0x20, "unrecoverable_error"),  # bit 5: non-recoverable error
    (3, 0x40, "auto_recoverable_error"),  # bit 6: stopped by high head temperature
    # Printer status 3, error information (5th byte)
    (4, 0x02, "cover_open"),  # bit 1: head up error (the head lever is a cover)
    (4, 0x04, "recoverable_error"),  # bit 2: presenter paper jam error
    # bit 3 (black mark error) and bit 6 (receive buffer overflow) stop no roll receipt.
    # Printer status 4, sensor information (6th byte)
    (5, 0x02, "paper_near_end"),  # bit 1: paper near-end, outer sensor
    (5, 0x04, "paper_near_end"),  # bit 2: paper near-end, inner sensor
    (5, 0x08, "paper_end"),  # bit 3: paper end
)
#: Printer status 1 bit 1: "<ETB> command executed" (cleared once sent to the host).
ETB_EXECUTED: Final = 0x02
#: Printer status 6 (8th byte): the ETB counter, bit 0-2 in bits 1-3 and bit 3-4 in bits 5-6.
ETB_COUNTER_INDEX: Final = 7


def is_header1(b: int) -> bool:
    return b & _HEADER1_MASK == _HEADER1_PATTERN


def is_status_byte(b: int) -> bool:
    """A byte that can follow Header-1 (pattern ``0xx0xxx0``)."""
    return b & _REST_MASK == 0


def asb_length(header1: int) -> int:
    """The whole block's length, Header-1 included, from bits 1-3 (low) and bit 5 (high)."""
    return ((header1 >> 1) & 0x07) | ((header1 >> 2) & 0x08)


def header1_for(length: int) -> int:
    """Header-1 announcing a block of ``length`` bytes (inverse of ``asb_length``)."""
    if not MIN_ASB_LEN <= length <= 15:
        raise ValueError(f"an automatic status is 7 to 15 bytes, not {length!r}")
    return 0x01 | ((length & 0x07) << 1) | ((length & 0x08) << 2)


def etb_counter_byte(value: int) -> int:
    """Printer status 6 holding ETB counter ``value`` (for building replies in tests)."""
    if not 0 <= value < ETB_MODULUS:
        raise ValueError(f"the ETB counter is 0..31, not {value!r}")
    return ((value & 0x07) << 1) | ((value & 0x18) << 2)


def etb_counter(raw: bytes) -> int | None:
    """The ETB counter an automatic status carries; None when the block is too short (models
    whose status version ends before printer status 6)."""
    if len(raw) <= ETB_COUNTER_INDEX:
        return None
    b = raw[ETB_COUNTER_INDEX]
    return ((b >> 1) & 0x07) | ((b >> 2) & 0x18)


def flags_from_star_asb(raw: bytes) -> StatusFlags:
    """Decode an automatic status block. ValueError if it does not have Star's bit pattern."""
    if (
        len(raw) < MIN_ASB_LEN
        or not is_header1(raw[0])
        or asb_length(raw[0]) != len(raw)
        or raw[1] & _HEADER2_MASK
        or not all(map(is_status_byte, raw[2:]))
    ):
        raise ValueError(f"not a Star automatic status: {raw.hex(' ')}")
    values: dict[str, bool] = {}
    for i, mask, field in STATUS_FIELDS:
        values[field] = values.get(field, False) or bool(raw[i] & mask)
    return StatusFlags(**values)


# ---------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class EtbCounter:
    """The ETB counter an automatic status reported (0..31); ``executed`` is its "ETB command
    executed" bit: this status was sent because an ETB was reached."""

    value: int
    executed: bool


@dataclass(frozen=True, slots=True)
class VersionReply:
    """``ESC # * , <text> LF NUL``: the answer to ``version_request()``."""

    text: str


StarEvent: TypeAlias = AsbStatus | EtbCounter | VersionReply | FlowControl | Garbage

_VERSION_PREFIX: Final = bytes((ESC, 0x23, 0x2A))
MAX_VERSION_LEN: Final = 128


class _Mode(Enum):
    IDLE = "idle"
    ASB = "asb"
    LENGTH = "length"  # the 2-byte length after an expanded ASB
    EXPANSION = "expansion"  # the status data that length announced
    VERSION = "version"


class StarStreamParser:
    """Splits a Star printer's reply stream into events; state carries over between feeds.

    Byte by byte ("Status identification method"):

    * ``0x11`` / ``0x13`` are XON / XOFF wherever they occur ("Xon/Xoff codes may be mixed
      in the automatic status"); no status byte has bit 4 set, so they cannot be one.
    * ``0xx0xxx1`` is Header-1: it announces the block's length (7-15). Header-2 and the
      printer status bytes follow, each ``0xx0xxx0`` (Header-2 may set bit 7 for the Ethernet
      expansion: a big-endian 2-byte length and that much status data follow, skipped). A
      byte that breaks the pattern ends the block as garbage and is classified afresh.
    * ``1B 23 2A`` opens a version reply that runs to ``LF NUL``; a control byte other than
      LF, or more than ``MAX_VERSION_LEN`` bytes, makes it garbage.
    * Anything else is garbage, reported as one ``Garbage`` event before the next event or
      at the end of ``feed()``.

    A complete block gives ``EtbCounter`` (when it is long enough to carry one) and then
    ``AsbStatus``: the counter says what was printed before the status says what stops.
    """

    def __init__(self) -> None:
        self._mode = _Mode.IDLE
        self._block = bytearray()
        self._junk = bytearray()
        self._want = 0
        self._pending: list[StarEvent] = []

    def reset(self) -> None:
        self._mode = _Mode.IDLE
        self._block.clear()
        self._junk.clear()
        self._want = 0
        self._pending.clear()

    def feed(self, data: bytes) -> list[StarEvent]:
        out: list[StarEvent] = []
        for b in data:
            self._step(b, out)
        self._flush_junk(out)
        return out

    # -- internals

    def _emit(self, out: list[StarEvent], event: StarEvent) -> None:
        self._flush_junk(out)
        out.append(event)

    def _flush_junk(self, out: list[StarEvent]) -> None:
        if self._junk:
            out.append(Garbage(bytes(self._junk)))
            self._junk.clear()

    def _abandon(self) -> None:
        self._junk += self._block
        self._block.clear()
        self._pending.clear()
        self._mode = _Mode.IDLE

    def _step(self, b: int, out: list[StarEvent]) -> None:
        if b in (XON, XOFF) and self._mode not in (_Mode.LENGTH, _Mode.EXPANSION):
            self._emit(out, FlowControl(xon=b == XON))
            return
        mode = self._mode
        if mode is _Mode.IDLE:
            self._start(b)
        elif mode is _Mode.ASB:
            self._asb_byte(b, out)
        elif mode is _Mode.LENGTH:
            self._block.append(b)
            if len(self._block) == 2:
                self._want = (self._block[0] << 8) | self._block[1]
                self._block.clear()
                if self._want > MAX_EXPANSION_LEN:
                    self._abandon()
                elif self._want == 0:
                    self._finish(out)
                else:
                    self._mode = _Mode.EXPANSION
        elif mode is _Mode.EXPANSION:
            self._want -= 1  # status data of the expansion: not decoded here
            if self._want == 0:
                self._finish(out)
        else:  # _Mode.VERSION
            self._version_byte(b, out)

    def _start(self, b: int) -> None:
        if is_header1(b) and asb_length(b) >= MIN_ASB_LEN:
            self._mode = _Mode.ASB
            self._block.append(b)
            self._want = asb_length(b)
        elif b == ESC:
            self._mode = _Mode.VERSION
            self._block.append(b)
        else:
            self._junk.append(b)

    def _asb_byte(self, b: int, out: list[StarEvent]) -> None:
        second = len(self._block) == 1
        mask = _HEADER2_MASK if second else _REST_MASK
        if b & mask:
            self._abandon()
            self._start(b)
            return
        self._block.append(b)
        if len(self._block) < self._want:
            return
        raw = bytes(self._block)
        expanded = bool(raw[1] & _HEADER2_EXPANSION)
        plain = bytes((raw[0], raw[1] & ~_HEADER2_EXPANSION & 0xFF)) + raw[2:]
        counter = etb_counter(raw)
        if counter is not None:
            self._pending.append(EtbCounter(counter, bool(raw[2] & ETB_EXECUTED)))
        self._pending.append(AsbStatus(raw, flags_from_star_asb(plain)))
        self._block.clear()
        if expanded:
            self._mode = _Mode.LENGTH
        else:
            self._finish(out)

    def _finish(self, out: list[StarEvent]) -> None:
        self._mode = _Mode.IDLE
        self._want = 0
        pending, self._pending = self._pending, []
        for event in pending:
            self._emit(out, event)

    def _version_byte(self, b: int, out: list[StarEvent]) -> None:
        at = len(self._block)
        if at < len(_VERSION_PREFIX):
            if b != _VERSION_PREFIX[at]:
                self._abandon()
                self._start(b)
                return
            self._block.append(b)
            return
        if b == NUL and self._block[-1] == LF:
            text = bytes(self._block[len(_VERSION_PREFIX):-1])
            self._block.clear()
            self._mode = _Mode.IDLE
            if text.startswith(b","):
                text = text[1:]
            self._emit(out, VersionReply(text.decode("ascii", "replace").strip()))
            return
        if (b < 0x20 and b != LF) or self._block[-1] == LF:
            self._abandon()
            self._start(b)
            return
        self._block.append(b)
        if len(self._block) > MAX_VERSION_LEN:
            self._abandon()
