"""ESC/POS command table and decoder for the emulator (pure, no I/O).

Written from the Epson command reference independently of ``receiptd.protocol``: the emulator
must not share code with the daemon it tests.

``decode(buf, dbcs)`` looks at the head of the receive buffer and returns one ``Command`` (its
header length and how many data bytes follow it) or ``None`` when more bytes are needed. Data
payloads are counted, not required to be in the buffer: an image larger than the receive buffer
streams through it, as on a real printer.

``RealtimeScanner`` watches every received byte, as the printer's receive interrupt does:
``DLE EOT n`` & co. are recognised anywhere in the stream, even inside image data.
"""

from __future__ import annotations

from dataclasses import dataclass

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
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


# Fixed-length commands: function byte -> (name, total length including prefix).
ESC_FIXED: dict[int, tuple[str, int]] = {
    0x0C: ("page_print", 2),
    0x20: ("char_spacing", 3),
    0x21: ("print_mode", 3),
    0x24: ("abs_position", 4),
    0x25: ("user_charset", 3),
    0x2D: ("underline", 3),
    0x32: ("line_spacing_default", 2),
    0x33: ("line_spacing", 3),
    0x3C: ("return_home", 2),
    0x3D: ("peripheral_select", 3),
    0x3F: ("cancel_user_char", 3),
    0x40: ("init", 2),
    0x45: ("bold", 3),
    0x47: ("double_strike", 3),
    0x4A: ("feed_dots", 3),
    0x4B: ("reverse_feed_dots", 3),
    0x4C: ("page_mode", 2),
    0x4D: ("font", 3),
    0x52: ("intl_charset", 3),
    0x53: ("standard_mode", 2),
    0x54: ("print_direction", 3),
    0x55: ("unidirectional", 3),
    0x56: ("rotate", 3),
    0x57: ("page_area", 10),
    0x5C: ("rel_position", 4),
    0x61: ("align", 3),
    0x63: ("panel_sensor", 4),
    0x64: ("feed_lines", 3),
    0x65: ("reverse_feed_lines", 3),
    0x69: ("cut_legacy_full", 2),
    0x6D: ("cut_legacy_partial", 2),
    0x70: ("drawer", 5),
    0x72: ("color", 3),
    0x74: ("codepage", 3),
    0x75: ("peripheral_status", 3),
    0x76: ("paper_status", 3),
    0x7B: ("upside_down", 3),
}

GS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("char_size", 3),
    0x24: ("abs_vposition", 4),
    0x2F: ("print_downloaded_image", 3),
    0x3A: ("macro", 2),
    0x42: ("reverse", 3),
    0x45: ("head_control", 3),
    0x48: ("hri_position", 3),
    0x49: ("identity", 3),
    0x4C: ("left_margin", 4),
    0x50: ("motion_units", 4),
    0x54: ("line_start", 3),
    0x57: ("area_width", 4),
    0x5C: ("rel_vposition", 4),
    0x5E: ("macro_run", 5),
    0x61: ("asb", 3),
    0x62: ("smoothing", 3),
    0x63: ("print_counter", 2),
    0x66: ("hri_font", 3),
    0x67: ("maintenance", 6),  # GS g 0 / GS g 2: m nL nH
    0x68: ("barcode_height", 3),
    0x6A: ("ink_asb", 3),
    0x72: ("status", 3),
    0x77: ("barcode_width", 3),
    0x7A: ("recovery_wait", 5),
}

FS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("kanji_print_mode", 3),
    0x26: ("kanji_on", 2),
    0x2D: ("kanji_underline", 3),
    0x2E: ("kanji_off", 2),
    0x32: ("define_kanji", 4 + 72),
    0x43: ("kanji_code", 3),
    0x53: ("kanji_spacing", 4),
    0x57: ("kanji_quad", 3),
    0x70: ("print_nv_image", 4),
}

_FIXED = {ESC: ESC_FIXED, GS: GS_FIXED, FS: FS_FIXED}
_PREFIX_NAME = {ESC: "ESC", GS: "GS", FS: "FS"}

GS_CUT_SHORT = frozenset({0, 1, 48, 49})
GS_CUT_FEED = frozenset({65, 66, 97, 98, 103, 104})
TEXT_RUN_MAX = 512
NUL_TERMINATED_MAX = 512

# Real-time commands that the printer recognises anywhere in the received byte stream.
DLE_DC4_CLEAR = bytes.fromhex("10 14 08 01 03 14 01 06 02 08")


def _realtime_state(seq: bytes | bytearray) -> bool | None:
    """True: ``seq`` is a complete real-time command; False: a valid prefix; None: neither."""
    n = len(seq)
    if n == 0 or seq[0] != DLE:
        return None
    if n == 1:
        return False
    fn = seq[1]
    if fn == 0x04:  # DLE EOT n
        if n == 2:
            return False
        return True if n == 3 and 1 <= seq[2] <= 4 else None
    if fn == 0x05:  # DLE ENQ n
        if n == 2:
            return False
        return True if n == 3 and seq[2] <= 2 else None
    if fn != 0x14:
        return None
    if n == 2:
        return False
    sub = seq[2]
    if sub == 0x08:
        if bytes(seq) == DLE_DC4_CLEAR[:n]:
            return n == len(DLE_DC4_CLEAR)
        return None
    if sub == 0x07:  # DLE DC4 7 m
        if n == 3:
            return False
        return True if n == 4 and seq[3] in (1, 2, 4) else None
    if sub == 0x01:  # DLE DC4 1 m t: drawer pulse
        if n == 3:
            return False
        if seq[3] not in (0, 1):
            return None
        if n == 4:
            return False
        return True if n == 5 and 1 <= seq[4] <= 8 else None
    if sub == 0x02:  # DLE DC4 2 1 8: power off
        if bytes(seq) == b"\x10\x14\x02\x01\x08"[:n]:
            return n == 5
        return None
    return None


def realtime_length(data: bytes | bytearray) -> int:
    """Length of a complete real-time command at the start of ``data``, else 0."""
    for k in range(1, min(len(data), len(DLE_DC4_CLEAR)) + 1):
        state = _realtime_state(data[:k])
        if state is None:
            return 0
        if state:
            return k
    return 0


class RealtimeScanner:
    """Feed it every received byte; it returns each real-time command as it completes."""

    def __init__(self) -> None:
        self._seq = bytearray()

    @property
    def idle(self) -> bool:
        return not self._seq

    def reset(self) -> None:
        self._seq.clear()

    def push(self, byte: int) -> bytes | None:
        self._seq.append(byte)
        state = _realtime_state(self._seq)
        if state is True:
            done = bytes(self._seq)
            self._seq.clear()
            return done
        if state is None:
            self._seq.clear()
            if byte == DLE:
                self._seq.append(byte)
        return None


def _u16(lo: int, hi: int) -> int:
    return lo | (hi << 8)


def _text_run(buf: bytes | bytearray, dbcs: str | None) -> Command | None:
    i, n = 0, len(buf)
    while i < n and i < TEXT_RUN_MAX:
        b = buf[i]
        if b < 0x20:
            break
        width = _dbcs_width(buf, i, dbcs)
        if width == 0:  # a double-byte character not complete yet
            break
        i += width
    if i == 0:
        return None
    return Command("text", bytes(buf[:i]))


def _dbcs_width(buf: bytes | bytearray, i: int, dbcs: str | None) -> int:
    """Bytes of the character at ``i``: 1, 2 or 4; 0 if it is cut off at the end of ``buf``."""
    b = buf[i]
    if dbcs is None:
        return 1
    if dbcs == "jis":
        if not 0x21 <= b <= 0x7E:
            return 1
        return 2 if i + 1 < len(buf) else 0
    sjis = dbcs.startswith("shift_jis")
    lead = (0x81 <= b <= 0x9F or 0xE0 <= b <= 0xFC) if sjis else 0x81 <= b <= 0xFE
    if not lead:
        return 1
    if i + 1 >= len(buf):
        return 0
    second = buf[i + 1]
    if dbcs == "gb18030" and 0x30 <= second <= 0x39:
        return 4 if i + 3 < len(buf) else 0
    return 2 if second >= 0x40 else 1


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


def _walk_nv_images(buf: bytes | bytearray) -> Command | None:
    """FS q n [xL xH yL yH d1...d(x*y*8)]..."""
    if len(buf) < 3:
        return None
    pos = 3
    for _ in range(buf[2]):
        if pos + 4 > len(buf):
            return None
        x, y = _u16(buf[pos], buf[pos + 1]), _u16(buf[pos + 2], buf[pos + 3])
        pos += 4 + x * y * 8
    if pos > len(buf):
        return None
    return Command("define_nv_images", bytes(buf[:pos]))


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
    if b0 not in _FIXED:
        return Command("control", bytes(buf[:1]))
    if len(buf) < 2:
        return None
    fn = buf[1]
    fixed = _FIXED[b0].get(fn)
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
        state = _realtime_state(buf[:k])
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
        return Command("cut", bytes(buf[:3]))
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


BARCODE_SYMBOLOGIES: dict[int, str] = {
    0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
    65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "CODABAR",
    72: "CODE93", 73: "CODE128", 74: "GS1-128", 75: "GS1 DATABAR OMNIDIRECTIONAL",
    76: "GS1 DATABAR TRUNCATED", 77: "GS1 DATABAR LIMITED", 78: "GS1 DATABAR EXPANDED",
    79: "CODE128 AUTO",
}

# GS ( k cn: the 2D symbols.
SYMBOL_NAMES: dict[int, str] = {
    0x30: "PDF417", 0x31: "QR", 0x32: "MAXICODE", 0x33: "GS1 DATABAR", 0x34: "AZTEC",
    0x35: "DATAMATRIX",
}

# ESC t n character code tables (Epson numbering) that Python has a codec for; 1 is the
# JIS X 0201 Katakana table (ASCII + half-width katakana at A1-DF), decoded by hand.
CODEPAGES: dict[int, str] = {
    0: "cp437", 1: "katakana", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 13: "cp857",
    14: "cp737", 15: "iso8859_7", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858",
    21: "cp874", 32: "cp720", 33: "cp775", 34: "cp855", 35: "cp861", 36: "cp862", 37: "cp864",
    38: "cp869", 39: "iso8859_2", 40: "iso8859_15", 44: "cp1125", 45: "cp1250", 46: "cp1251",
    47: "cp1253", 48: "cp1254", 49: "cp1255", 50: "cp1256", 51: "cp1257", 52: "cp1258",
    53: "kz1048",
}

# The double-byte character sets of Kanji mode (FS &), by the name the emulator is
# configured with (``cjk=``): Chinese (GB18030), Taiwanese (Big5), Japanese (Shift_JIS,
# also chosen by FS C 1) and Korean (KS C 5601, sent as EUC-KR byte pairs) models.
DBCS_CODECS: dict[str, str] = {
    "gb18030": "gb18030", "gbk": "gbk", "big5": "big5", "shift_jis": "shift_jis",
    "shift_jisx0213": "shift_jisx0213", "ksc5601": "euc_kr", "euc_kr": "euc_kr", "jis": "jis",
}


def decode_text(raw: bytes, dbcs: str | None, codepage: int) -> str:
    """Text bytes as the printer draws them: in the Kanji-mode character set if it is on,
    else in the selected code page (unknown tables print as PC437)."""
    if dbcs == "jis":
        return bytes(b | 0x80 for b in raw).decode("euc_jp", errors="replace")
    if dbcs is not None:
        return raw.decode(DBCS_CODECS.get(dbcs, dbcs), errors="replace")
    page = CODEPAGES.get(codepage, "cp437")
    if page == "katakana":
        return "".join(
            chr(b) if b < 0x80 else chr(0xFF61 + b - 0xA1) if 0xA1 <= b <= 0xDF else "\ufffd"
            for b in raw
        )
    return raw.decode(page, errors="replace")


def barcode_text(symbology: str, data: bytes) -> str:
    """Readable barcode content: CODE128's code-set selectors (``{B`` ...) are not content."""
    if symbology == "CODE128" and len(data) >= 2 and data[:1] == b"{" and data[1:2] in b"ABC":
        out: list[str] = []
        code_c = data[1:2] == b"C"
        i = 2
        while i < len(data):
            if data[i : i + 1] == b"{" and i + 1 < len(data):
                sel = data[i + 1 : i + 2]
                if sel == b"{":
                    out.append("{")
                else:
                    code_c = sel == b"C"
                i += 2
                continue
            out.append(f"{data[i]:02d}" if code_c else chr(data[i]))
            i += 1
        return "".join(out)
    return data.decode("latin-1")
