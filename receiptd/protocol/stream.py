"""The reply-stream parser: bytes from the printer in, typed events out.

Stateful (a reply can be split across reads) but pure: no I/O, no threads, no clock.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from receiptd.protocol.replies import (
    HEADER_5F,
    HEADER_37,
    KIND_BUFFER_CLEARED,
    KIND_OFFLINE_RESPONSE,
    KIND_PROCESS_ID,
    POWER_ON_NOTICE,
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
)
from receiptd.protocol.status import flags_from_asb, is_asb_first, is_asb_rest, is_dle_eot_reply

NUL: Final = 0x00
XON: Final = 0x11
XOFF: Final = 0x13

MAX_BLOCK_LEN: Final = 512
"""Longest header block (opener + payload, without the NUL) the parser waits for."""



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

    Classification (docs/PROTOCOL.md, "Splitting one reply stream"), byte by byte:

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
