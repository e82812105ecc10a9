"""ESC/POS command decoder for the emulator (pure, no I/O).

Written from the Epson command reference independently of ``receiptd.protocol``: the emulator
must not share code with the daemon it tests.

``decode(buf, dbcs)`` looks at the head of the receive buffer and returns one ``Command`` (its
header length and how many data bytes follow it) or ``None`` when more bytes are needed. Data
payloads are counted, not required to be in the buffer: an image larger than the receive buffer
streams through it, as on a real printer.

Fixed-length commands come from ``command_table``; real-time commands are recognised by
``realtime``, character sets live in ``charsets`` and barcode names in ``barcodes`` (all in this
package). Their names are re-exported here for code that imports them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiptd.emulator.barcodes import BARCODE_SYMBOLOGIES, SYMBOL_NAMES, barcode_text
from receiptd.emulator.charsets import CODEPAGES, DBCS_CODECS, dbcs_width, decode_text
from receiptd.emulator.command_table import (
    CUT_NAMES,
    ESC,
    ESC_FIXED,
    FIXED,
    FS,
    FS_FIXED,
    GS,
    GS_CUT_FEED,
    GS_CUT_SHORT,
    GS_FIXED,
)
from receiptd.emulator.realtime import (
    DLE,
    DLE_DC4_CLEAR,
    RealtimeScanner,
    realtime_length,
    realtime_state,
)

__all__ = [
    "BARCODE_SYMBOLOGIES", "CODEPAGES", "CR", "CUT_NAMES", "DBCS_CODECS", "DLE", "DLE_DC4_CLEAR",
    "ESC", "ESC_FIXED", "FS", "FS_FIXED", "GS", "GS_CUT_FEED", "GS_CUT_SHORT", "GS_FIXED", "HT",
    "LF", "NUL", "SYMBOL_NAMES", "Command", "RealtimeScanner", "barcode_text", "decode",
    "decode_text", "is_cut", "realtime_length",
]

HT, LF, CR, NUL = 0x09, 0x0A, 0x0D, 0x00


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    header: bytes  # the bytes of the command itself (for text: the text bytes)
    payload_len: int = 0  # data bytes that follow the header
    data: bytes = b""  # inline data of NUL-terminated or walked commands

    @property
    def arg(self) -> int:
        """The last header byte: the ``n`` of most fixed-length commands."""
        return self.header[-1]


TEXT_RUN_MAX = 512
NUL_TERMINATED_MAX = 512


def is_cut(cmd: Command) -> bool:
    return cmd.name in CUT_NAMES


def _u16(lo: int, hi: int) -> int:
    return lo | (hi << 8)


def _text_run(buf: bytes | bytearray, dbcs: str | None) -> Command | None:
    i, n = 0, len(buf)
    while i < n and i < TEXT_RUN_MAX:
        b = buf[i]
        if b < 0x20:
            break
        width = dbcs_width(buf, i, dbcs)
        if width == 0:  # a double-byte character not complete yet
            break
        i += width
    if i == 0:
        return None
    return Command("text", bytes(buf[:i]))


def _nul_terminated(name: str, buf: bytes | bytearray, start: int) -> Command | None:
    end = buf.find(b"\x00", start, start + NUL_TERMINATED_MAX)
    if end < 0:
        if len(buf) >= start + NUL_TERMINATED_MAX:
            return Command("unknown", bytes(buf[:start]))
        return None
    return Command(name, bytes(buf[: end + 1]), data=bytes(buf[start:end]))


def _walk_user_chars(buf: bytes | bytearray) -> Command | None:
    """ESC & y c1 c2 [x d1...d(y*x)]..."""
    if len(buf) < 5:
        return None
    y, c1, c2 = buf[2], buf[3], buf[4]
    pos = 5
    for _ in range(max(0, c2 - c1 + 1)):
        if pos >= len(buf):
            return None
        pos += 1 + y * buf[pos]
    if pos > len(buf):
        return None
    return Command("define_user_chars", bytes(buf[:pos]))


def images_end(buf: bytes | bytearray, pos: int, count: int) -> int | None:
    """Where ``count`` stored images starting at ``pos`` end (each ``xL xH yL yH`` and
    x*y*8 bytes of dots: ESC/POS ``FS q``, Star ``ESC FS q``); ``None`` while bytes are
    missing."""
    for _ in range(count):
        if pos + 4 > len(buf):
            return None
        x, y = _u16(buf[pos], buf[pos + 1]), _u16(buf[pos + 2], buf[pos + 3])
        pos += 4 + x * y * 8
    return pos if pos <= len(buf) else None


def _walk_nv_images(buf: bytes | bytearray) -> Command | None:
    """FS q n [xL xH yL yH d1...d(x*y*8)]..."""
    if len(buf) < 3:
        return None
    end = images_end(buf, 3, buf[2])
    return None if end is None else Command("define_nv_images", bytes(buf[:end]))


def decode(buf: bytes | bytearray, dbcs: str | None = None) -> Command | None:
    """The command at the head of ``buf``; ``None`` if it is not complete yet."""
    if not buf:
        return None
    b0 = buf[0]
    if b0 >= 0x20:
        return _text_run(buf, dbcs)
    if b0 == LF:
        return Command("lf", b"\n")
    if b0 == CR:
        return Command("cr", b"\r")
    if b0 == HT:
        return Command("ht", b"\t")
    if b0 == DLE:
        return _decode_dle(buf)
    if b0 not in FIXED:
        return Command("control", bytes(buf[:1]))
    if len(buf) < 2:
        return None
    fn = buf[1]
    fixed = FIXED[b0].get(fn)
    if fixed is not None:
        name, length = fixed
        return Command(name, bytes(buf[:length])) if len(buf) >= length else None
    if b0 == ESC:
        return _decode_esc(buf, fn)
    if b0 == GS:
        return _decode_gs(buf, fn)
    return _decode_fs(buf, fn)


def _need(buf: bytes | bytearray, n: int) -> bool:
    return len(buf) >= n


def _paren(buf: bytes | bytearray, name: str) -> Command | None:
    """``<prefix> ( x pL pH`` followed by pL+pH*256 data bytes."""
    if not _need(buf, 5):
        return None
    return Command(f"{name}({chr(buf[2])}", bytes(buf[:5]), payload_len=_u16(buf[3], buf[4]))


def _unknown(buf: bytes | bytearray) -> Command:
    return Command("unknown", bytes(buf[:2]))


def _decode_dle(buf: bytes | bytearray) -> Command | None:
    for k in range(1, min(len(buf), len(DLE_DC4_CLEAR)) + 1):
        state = realtime_state(buf[:k])
        if state is None:
            return Command("control", bytes(buf[:1]))
        if state:
            return Command("realtime", bytes(buf[:k]))
    return None


def _decode_esc(buf: bytes | bytearray, fn: int) -> Command | None:
    if fn == 0x28:
        return _paren(buf, "ESC")
    if fn == 0x2A:  # ESC * m nL nH d...
        if not _need(buf, 5):
            return None
        m, n = buf[2], _u16(buf[3], buf[4])
        return Command("bit_image", bytes(buf[:5]), payload_len=n * (1 if m in (0, 1) else 3))
    if fn == 0x44:  # ESC D n1 ... nk NUL
        return _nul_terminated("tabs", buf, 2)
    if fn == 0x26:
        return _walk_user_chars(buf)
    return _unknown(buf)


def _decode_gs(buf: bytes | bytearray, fn: int) -> Command | None:
    if fn == 0x28:
        return _paren(buf, "GS")
    if fn == 0x56:  # GS V m [n]
        if not _need(buf, 3):
            return None
        m = buf[2]
        if m in GS_CUT_FEED:
            return Command("cut", bytes(buf[:4])) if _need(buf, 4) else None
        if m in GS_CUT_SHORT:
            return Command("cut", bytes(buf[:3]))
        # Not a cut mode of the reference: shown, never guessed into a cut that hides it.
        return Command("unknown", bytes(buf[:3]))
    if fn == 0x6B:  # GS k m ...
        if not _need(buf, 3):
            return None
        if buf[2] <= 6:
            return _nul_terminated("barcode", buf, 3)
        if not _need(buf, 4):
            return None
        return Command("barcode", bytes(buf[:4]), payload_len=buf[3])
    if fn in (0x76, 0x51):  # GS v 0 m xL xH yL yH d... / GS Q 0 (variable bit image)
        if not _need(buf, 8):
            return None
        if buf[2] != 0x30:
            return _unknown(buf)
        x, y = _u16(buf[4], buf[5]), _u16(buf[6], buf[7])
        return Command("raster" if fn == 0x76 else "raster_q", bytes(buf[:8]), payload_len=x * y)
    if fn == 0x38:  # GS 8 x p1 p2 p3 p4: like GS ( x with a 32-bit length
        if not _need(buf, 7):
            return None
        length = buf[3] | buf[4] << 8 | buf[5] << 16 | buf[6] << 24
        return Command(f"GS({chr(buf[2])}", bytes(buf[:7]), payload_len=length)
    if fn == 0x2A:  # GS * x y d...
        if not _need(buf, 4):
            return None
        return Command("define_downloaded_image", bytes(buf[:4]), payload_len=buf[2] * buf[3] * 8)
    return _unknown(buf)


def _decode_fs(buf: bytes | bytearray, fn: int) -> Command | None:
    if fn == 0x28:
        return _paren(buf, "FS")
    if fn == 0x67:  # FS g 1 m a1 a2 a3 a4 nL nH d... / FS g 2 m a1 a2 a3 a4 nL nH
        if not _need(buf, 10):
            return None
        if buf[2] == 0x31:
            return Command("nv_user_write", bytes(buf[:10]), payload_len=_u16(buf[8], buf[9]))
        return Command("nv_user_read", bytes(buf[:10]))
    if fn == 0x71:
        return _walk_nv_images(buf)
    return _unknown(buf)
