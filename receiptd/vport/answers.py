"""The bytes an Epson printer would answer to the status questions an app asks, made from
receiptd's own view of the real printer (``Snapshot``). Pure: no I/O.

The bit layouts are those of docs/PROTOCOL.md (the same the daemon decodes), so the app reads
from receiptd what it would have read from the printer: paper out is paper out.

A printer receiptd cannot reach (not connected, not answering, or before its first answer)
is answered as an Epson printer that is offline answers: the "offline" bit set, the rest as
last known. An app then says "printer offline" at once, rather than hanging on a printer that
never answers; what it prints meanwhile is journaled and comes out when the printer is back.
Questions whose answer receiptd does not know (``GS I`` 1 and 3, ``GS I`` text it has not
read, ``GS r`` 4 on models with ink, ``DLE DC4 7`` 2 and 5) get no answer, as on a printer
that does not support them.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Final

from receiptd.printer.states import READY_STATES, Snapshot
from receiptd.protocol import StatusFlags
from receiptd.render.profiles import Profile

_FIELDS: Final = frozenset(f.name for f in fields(StatusFlags))
# GS I n (text forms) -> the identity key the session reads (receiptd.printer.queries).
_IDENTITY_TEXT: Final = {65: "firmware", 66: "maker", 67: "model", 68: "serial"}
#: ASB items an app may enable (GS a n bits 0-3 and 6): drawer, online, errors, paper, panel.
ASB_ITEMS: Final = 0x4F


def flags_of(snap: Snapshot) -> StatusFlags:
    """The printer's last reported flags, with ``offline`` set whenever receiptd cannot
    print on it right now (not connected, unknown, or in a state that holds the queue)."""
    active = {name: True for name in snap.flags if name in _FIELDS}
    flags = StatusFlags(**active)
    if not snap.connected or snap.state not in READY_STATES:
        flags = StatusFlags(**{**active, "offline": True})
    return flags


def dle_eot(snap: Snapshot, n: int) -> bytes:
    """``DLE EOT n`` (1-4): one byte, pattern ``0xx1xx10``."""
    f = flags_of(snap)
    v = 0x12
    if n == 1:
        v |= _bit(f.drawer_open, 0x04) | _bit(f.offline, 0x08)
        v |= _bit(f.cutter_error or f.recoverable_error, 0x20)  # waiting for recovery
    elif n == 2:
        v |= _bit(f.cover_open, 0x04) | _bit(f.feed_button, 0x08) | _bit(f.paper_end, 0x20)
        v |= _bit(_error(f), 0x40)
    elif n == 3:
        v |= _bit(f.recoverable_error, 0x04) | _bit(f.cutter_error, 0x08)
        v |= _bit(f.unrecoverable_error, 0x20) | _bit(f.auto_recoverable_error, 0x40)
    elif n == 4:
        v |= _bit(f.paper_near_end, 0x0C) | _bit(f.paper_end, 0x60)
    else:
        raise ValueError(f"DLE EOT n must be 1..4, not {n}")
    return bytes([v])


def asb_block(snap: Snapshot) -> bytes:
    """The four Automatic Status Back bytes."""
    f = flags_of(snap)
    b1 = 0x10 | _bit(f.drawer_open, 0x04) | _bit(f.offline, 0x08)
    b1 |= _bit(f.cover_open, 0x20) | _bit(f.feed_button, 0x40)
    b2 = _bit(f.cutter_error or f.recoverable_error, 0x01) | _bit(f.recoverable_error, 0x04)
    b2 |= _bit(f.cutter_error, 0x08) | _bit(f.unrecoverable_error, 0x20)
    b2 |= _bit(f.auto_recoverable_error, 0x40)
    b3 = _bit(f.paper_near_end, 0x03) | _bit(f.paper_end, 0x0C)
    return bytes([b1, b2, b3, 0])


def asb_view(block: bytes, mask: int) -> bytes:
    """What the items enabled by ``GS a mask`` see of a block: a change here sends a block."""
    b1, b2, b3, _ = block
    return bytes([
        (b1 & 0x04 if mask & 0x01 else 0) | (b1 & 0x28 if mask & 0x02 else 0)
        | (b1 & 0x40 if mask & 0x40 else 0),
        b2 if mask & 0x04 else 0,
        b3 if mask & 0x08 else 0,
    ])


def sensor(snap: Snapshot, n: int) -> bytes | None:
    """``GS r n``: 1/49 paper sensors, 2/50 drawer; ``None`` for the rest."""
    f = flags_of(snap)
    if n in (1, 49):
        return bytes([_bit(f.paper_near_end, 0x03) | _bit(f.paper_end, 0x0C)])
    if n in (2, 50):
        return bytes([_bit(f.drawer_open, 0x01)])
    return None


def identity(snap: Snapshot, profile: Profile, n: int) -> bytes | None:
    """``GS I n``: 2/50 the type byte (from the profile), 65-68 the text the printer gave
    receiptd (``5F text 00``); ``None`` where receiptd does not know the answer."""
    if n in (2, 50):  # bit 0 two-byte characters, bit 1 autocutter
        return bytes([_bit(profile.double_byte is not None, 0x01) | _bit(profile.cutter, 0x02)])
    key = _IDENTITY_TEXT.get(n)
    text = snap.identity.get(key) if key else None
    if not text:
        return None
    return b"\x5f" + text.encode("ascii", "replace") + b"\x00"


def status_now(snap: Snapshot, m: int) -> bytes | None:
    """``DLE DC4 7 m``: 1 an ASB block now, 4 the offline response (``37 23`` cause ``00``)."""
    if m == 1:
        return asb_block(snap)
    if m == 4:
        f = flags_of(snap)
        why = _bit(f.cover_open, 0x01) | _bit(f.paper_end, 0x02) | _bit(_error(f), 0x04)
        recoverable = _bit(f.cutter_error, 0x01) | _bit(f.recoverable_error, 0x02)
        cause = (why, recoverable, _bit(f.unrecoverable_error, 0x01),
                 _bit(f.auto_recoverable_error, 0x01))
        return b"\x37\x23" + bytes(0x40 | c for c in cause) + b"\x00"
    return None


def process_id(pid: bytes) -> bytes:
    """The answer to ``GS ( H`` fn 48 once everything before it has printed."""
    return b"\x37\x22" + pid + b"\x00"


def _error(f: StatusFlags) -> bool:
    return (f.cutter_error or f.recoverable_error or f.unrecoverable_error
            or f.auto_recoverable_error)


def _bit(on: bool, mask: int) -> int:
    return mask if on else 0
