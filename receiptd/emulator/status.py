"""What the printer tells the host about itself: faults, status bits and the replies queue.

The status bits follow the Epson tables (the ``Status bits`` table in
``receiptd/emulator/README.md``, and ``docs/PROTOCOL.md``): ``DLE EOT n`` answers one byte,
``GS a`` (Automatic Status Back) sends a four-byte block whenever an enabled item changes, and
``GS ( H fn 49`` makes the printer announce going offline. Replies are queued as whole
messages, so a ``0x37``/``0x5F`` block is never interleaved with an ASB block.

Where the reference leaves the bytes to the model (the offline cause), the emulator still keeps
to the ranges it fixes, so a host that relies on anything looser fails here first.
"""

from __future__ import annotations

from enum import StrEnum

from receiptd.emulator.config import Identity
from receiptd.emulator.transcript import Transcript

POWER_ON_NOTICE = b"\x3b\x31\x00"
BUFFER_CLEARED = b"\x37\x25\x00"


class Fault(StrEnum):
    NEAR_END = "near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    CUTTER_ERROR = "cutter_error"
    JAM = "jam"
    OVERHEAT = "overheat"
    UNRECOVERABLE = "unrecoverable"
    SILENT = "silent"
    DRAWER_OPEN = "drawer_open"


# Things to do to the printer that are not lasting states.
ACTIONS = frozenset({"power_cycle", "slow", "garbage", "feed_button", "disconnect"})
FAULT_NAMES = frozenset(f.value for f in Fault)
# Printing stops while any of these is present.
STOPPING = frozenset({Fault.PAPER_OUT, Fault.COVER_OPEN, Fault.CUTTER_ERROR, Fault.JAM,
                      Fault.OVERHEAT, Fault.UNRECOVERABLE})
RECOVERABLE = frozenset({Fault.CUTTER_ERROR, Fault.JAM})  # DLE ENQ recovers these
ERRORS = frozenset({Fault.CUTTER_ERROR, Fault.JAM, Fault.OVERHEAT, Fault.UNRECOVERABLE})
# A power cycle ends these; paper out, near end, an open cover or drawer stay as they are.
POWER_CLEARS = (Fault.CUTTER_ERROR, Fault.JAM, Fault.OVERHEAT, Fault.UNRECOVERABLE, Fault.SILENT)
# Transcript event names when a fault appears / clears.
EVENT_ON = {
    Fault.NEAR_END: "paper_near_end", Fault.PAPER_OUT: "paper_out",
    Fault.COVER_OPEN: "cover_open", Fault.CUTTER_ERROR: "cutter_error", Fault.JAM: "jam",
    Fault.OVERHEAT: "overheat", Fault.UNRECOVERABLE: "unrecoverable_error",
    Fault.SILENT: "silent", Fault.DRAWER_OPEN: "drawer_open",
}
EVENT_OFF = {
    Fault.NEAR_END: "paper_near_end_cleared", Fault.PAPER_OUT: "paper_loaded",
    Fault.COVER_OPEN: "cover_closed", Fault.CUTTER_ERROR: "recovered", Fault.JAM: "recovered",
    Fault.OVERHEAT: "cooled", Fault.UNRECOVERABLE: "unrecoverable_cleared",
    Fault.SILENT: "unsilent", Fault.DRAWER_OPEN: "drawer_closed",
}


# == the status bytes (pure) ===================================================================


def realtime_status(faults: set[Fault], offline: bool, n: int) -> int:
    """The DLE EOT n reply: pattern 0xx1xx10."""
    f = faults
    v = 0x12
    if n == 1:
        v |= 0x04 if Fault.DRAWER_OPEN in f else 0
        v |= 0x08 if offline else 0
        v |= 0x20 if f & RECOVERABLE else 0
    elif n == 2:
        v |= 0x04 if Fault.COVER_OPEN in f else 0
        v |= 0x20 if Fault.PAPER_OUT in f else 0
        v |= 0x40 if f & ERRORS else 0
    elif n == 3:
        v |= 0x04 if Fault.JAM in f else 0
        v |= 0x08 if Fault.CUTTER_ERROR in f else 0
        v |= 0x20 if Fault.UNRECOVERABLE in f else 0
        v |= 0x40 if Fault.OVERHEAT in f else 0
    elif n == 4:
        v |= 0x0C if Fault.NEAR_END in f else 0
        v |= 0x60 if Fault.PAPER_OUT in f else 0
    return v


def asb_block(faults: set[Fault], offline: bool) -> bytes:
    """The four Automatic Status Back bytes."""
    f = faults
    b1 = 0x10
    b1 |= 0x04 if Fault.DRAWER_OPEN in f else 0
    b1 |= 0x08 if offline else 0
    b1 |= 0x20 if Fault.COVER_OPEN in f else 0
    # Byte 2 bit 0, "waiting for online recovery": the same summary DLE EOT 1 gives in bit 5
    # (Epson ESC/POS Command Reference, "GS a", second byte), so the two never disagree.
    b2 = 0x01 if f & RECOVERABLE else 0
    b2 |= 0x04 if Fault.JAM in f else 0
    b2 |= 0x08 if Fault.CUTTER_ERROR in f else 0
    b2 |= 0x20 if Fault.UNRECOVERABLE in f else 0
    b2 |= 0x40 if Fault.OVERHEAT in f else 0
    b3 = 0x03 if Fault.NEAR_END in f else 0
    b3 |= 0x0C if Fault.PAPER_OUT in f else 0
    return bytes([b1, b2, b3, 0])


def asb_view(block: bytes, mask: int) -> bytes:
    """The part of an ASB block that the enabled items cover: a change here sends a block."""
    b1, b2, b3, _ = block
    m = mask
    return bytes([
        (b1 & 0x04 if m & 0x01 else 0) | (b1 & 0x28 if m & 0x02 else 0)
        | (b1 & 0x40 if m & 0x40 else 0),
        b2 if m & 0x04 else 0,
        b3 if m & 0x08 else 0,
    ])


# GS ( H fn 49, d: 0/48 off, 1/49 offline response without the cause, 2/50 with it.
OFFLINE_OFF, OFFLINE_PLAIN, OFFLINE_WITH_CAUSE = 0, 1, 2


def offline_cause(faults: set[Fault]) -> bytes:
    """The offline cause of the GS ( H fn 49 offline response.

    The reference leaves the cause bytes to each model but fixes their range: 40h-7Fh (Epson
    ESC/POS Command Reference, "GS ( H <Function 49>", the offline response), so bit 6 is set,
    bit 7 clear and none can be taken for the closing NUL. This emulator sends four bytes, the
    information in bits 0-5 of each: 1 why printing stopped (01 cover open, 02 paper end, 04 an
    error), 2 the recoverable errors (01 autocutter, 02 mechanical), 3 the unrecoverable error
    (01), 4 the automatically recoverable error (01 head temperature)."""
    f = faults
    why = (0x01 if Fault.COVER_OPEN in f else 0) | (0x02 if Fault.PAPER_OUT in f else 0)
    why |= 0x04 if f & ERRORS else 0
    recoverable = (0x01 if Fault.CUTTER_ERROR in f else 0) | (0x02 if Fault.JAM in f else 0)
    unrecoverable = 0x01 if Fault.UNRECOVERABLE in f else 0
    auto = 0x01 if Fault.OVERHEAT in f else 0
    return bytes(0x40 | b for b in (why, recoverable, unrecoverable, auto))


def offline_block(faults: set[Fault], with_cause: bool) -> bytes:
    """The offline response: ``37 23``, the cause when asked for (d = 2/50), ``00``."""
    return b"\x37\x23" + (offline_cause(faults) if with_cause else b"") + b"\x00"


def sensor_status(faults: set[Fault], n: int) -> bytes | None:
    """The GS r n reply: 1 paper sensor, 2 drawer, 4 ink (none)."""
    n = n % 48 if n >= 48 else n
    if n == 1:
        v = (0x03 if Fault.NEAR_END in faults else 0) | (0x0C if Fault.PAPER_OUT in faults else 0)
        return bytes([v])
    if n == 2:
        return bytes([0x01 if Fault.DRAWER_OPEN in faults else 0])
    if n == 4:
        return b"\x00"
    return None


def identity_reply(ident: Identity, n: int) -> bytes | None:
    """The GS I n reply: one byte for 1-3 (49-51), a ``5F ... 00`` block for 65-69."""
    one_byte = {1: ident.model_id, 49: ident.model_id, 2: ident.type_id, 50: ident.type_id,
                3: ident.version_id, 51: ident.version_id}
    text = {65: ident.firmware, 66: ident.maker, 67: ident.model, 68: ident.serial,
            69: ident.font}
    if n in one_byte:
        return bytes([one_byte[n] & 0x6F])
    if n in text:
        return b"\x5f" + text[n].encode("ascii", "replace") + b"\x00"
    return None


# == the printer's status over time ============================================================


class PrinterStatus:
    """The faults present, whether the power is on, and the replies waiting for the host.

    Every change of faults goes through here so that the ASB block and the offline response
    are sent when, and only when, what they report changes.
    """

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.faults: set[Fault] = set()
        self.powered = True
        self.out: list[bytes] = []
        self.notice_pending = False  # the power-on notice waits for a host to read it
        self.asb_mask = 0
        self.asb_sent: bytes | None = None
        self.offline_response = OFFLINE_OFF
        self.was_offline = False

    @property
    def reading(self) -> bool:
        """Whether the printer takes bytes from the host at all (not off, not hung)."""
        return self.powered and Fault.SILENT not in self.faults

    @property
    def offline(self) -> bool:
        return bool(self.faults & STOPPING) or not self.powered

    def realtime_status(self, n: int) -> int:
        return realtime_status(self.faults, self.offline, n)

    def asb_bytes(self) -> bytes:
        return asb_block(self.faults, self.offline)

    def offline_block(self, with_cause: bool = True) -> bytes:
        return offline_block(self.faults, with_cause)

    # -- replies -------------------------------------------------------------------------------

    def send(self, message: bytes) -> None:
        # Every message is queued whole: a 0x37/0x5F block and an ASB block never interleave.
        if self.powered:
            self.out.append(message)

    def take(self) -> bytes:
        """Reply bytes for the host (nothing while hung or off)."""
        if not self.reading or not self.out:
            return b""
        out = b"".join(self.out)
        self.out.clear()
        self.notice_pending = False
        return out

    def host_connected(self) -> None:
        """A new host connection: replies queued for the previous one are not sent."""
        self.out.clear()
        if self.notice_pending:
            self.out.append(POWER_ON_NOTICE)

    def enable_asb(self, mask: int) -> None:
        """GS a n: report these items from now on, starting with one block now."""
        self.asb_mask = mask
        self.asb_sent = asb_view(self.asb_bytes(), mask)
        if mask:
            self.send(self.asb_bytes())

    def changed(self) -> None:
        if self.asb_mask:
            view = asb_view(self.asb_bytes(), self.asb_mask)
            if view != self.asb_sent:
                self.asb_sent = view
                self.send(self.asb_bytes())
        offline = self.offline
        if offline and not self.was_offline and self.offline_response and self.powered:
            self.send(self.offline_block(self.offline_response == OFFLINE_WITH_CAUSE))
        self.was_offline = offline

    # -- faults and power ----------------------------------------------------------------------

    def raise_fault(self, fault: Fault) -> bool:
        """Add ``fault``; False if it was already present."""
        if fault in self.faults:
            return False
        self.faults.add(fault)
        self.transcript.event(EVENT_ON[fault])
        self.changed()
        return True

    def lower_fault(self, fault: Fault, why: str) -> bool:
        """Remove ``fault`` (``why``: who recovered it); False if it was not present."""
        if fault not in self.faults:
            return False
        self.faults.discard(fault)
        event = EVENT_OFF[fault]
        if event == "recovered":
            self.transcript.event(event, fault=fault.value, by=why)
        else:
            self.transcript.event(event)
        self.changed()
        return True

    def power_off(self) -> None:
        """Replies, the ASB setting, the offline response and errors are lost."""
        self.out.clear()
        self.asb_mask = 0
        self.asb_sent = None
        self.offline_response = OFFLINE_OFF
        for f in POWER_CLEARS:
            self.faults.discard(f)
        self.powered = False
        self.notice_pending = False

    def power_on(self) -> None:
        """The printer starts a new slip and announces itself with the power-on notice."""
        self.powered = True
        self.transcript.new_slip()
        self.transcript.event("power_on")
        self.out.append(POWER_ON_NOTICE)
        self.notice_pending = True
        self.was_offline = self.offline
