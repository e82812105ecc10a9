"""Star Line Mode command decoder for the emulator (pure, no I/O).

Written from Star Micronics' "STAR Line Mode Command Specifications" (line thermal printers),
independently of ``receiptd.protocol``: the emulator must not share the daemon's mistakes.

``decode(buf, raster)`` looks at the head of the receive buffer and returns one ``Command`` (the
same shape the ESC/POS decoder returns: header bytes, data bytes that follow) or ``None`` while
bytes are missing. ``raster`` says whether the printer is in raster mode (``ESC * r A`` …
``ESC * r B``), where ``b n1 n2`` and ``k n1 n2`` are raster lines instead of text.

``StarFramer`` walks the bytes as they arrive, command by command, so that the real-time
commands (``ENQ``, ``EOT``, ``ESC ACK SOH``, ``ESC ACK CAN``) are answered on arrival, but only
where a command starts: a 04 or 05 inside a raster line or a barcode is data, not a question.
"""

from __future__ import annotations

from receiptd.emulator.commands import Command, images_end

NUL, EOT, ENQ, BEL, HT, LF, VT, FF, CR, SO, SI = 0x00, 0x04, 0x05, 0x07, 0x09, 0x0A, 0x0B, 0x0C, \
    0x0D, 0x0E, 0x0F
DC2, DC4, ETB, CAN, EM, SUB, ESC, FS, GS, RS = 0x12, 0x14, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, \
    0x1D, 0x1E
ACK, SOH = 0x06, 0x01

# The real-time commands: run when received, not when the interpreter reaches them (STAR Line
# Mode Command Specifications, "ESC ACK SOH", "ENQ", "EOT": "Immediately executed not when
# taking out from the reception buffer, but when received from the host").
ASB_REQUEST = bytes([ESC, ACK, SOH])
RESET = bytes([ESC, ACK, CAN])
REALTIME = (bytes([ENQ]), bytes([EOT]), ASB_REQUEST, RESET)

TEXT_RUN_MAX = 512
TERMINATED_MAX = 512  # longest NUL/RS/"LF NUL"-terminated command the decoder waits for
MANUAL_QR_MAX = 4096  # longest ESC GS y D 2 (QR data in blocks) the decoder waits for
FRAME_WINDOW = MANUAL_QR_MAX + 16  # bytes the framer shows the decoder at once

# One-byte controls of line mode: byte -> name.
SINGLE: dict[int, str] = {
    LF: "lf", CR: "cr", HT: "ht", FF: "ff", VT: "vt", SO: "width_on", DC4: "width_off",
    SI: "upside_down_on", DC2: "upside_down_off", BEL: "drawer1", FS: "drawer1",
    SUB: "drawer2", EM: "drawer2", ETB: "etb", CAN: "cancel", ENQ: "realtime", EOT: "realtime",
    RS: "control",
}

# ESC x ... of fixed length: function byte -> (name, total length).
ESC_FIXED: dict[int, tuple[str, int]] = {
    0x40: ("init", 2),                # ESC @
    0x45: ("bold_on", 2),             # ESC E
    0x46: ("bold_off", 2),            # ESC F
    0x34: ("highlight_on", 2),        # ESC 4: white/black inverted
    0x35: ("highlight_off", 2),       # ESC 5
    0x2D: ("underline", 3),           # ESC - n
    0x5F: ("upperline", 3),           # ESC _ n
    0x69: ("expand", 4),              # ESC i n1 n2: height n1, width n2
    0x57: ("expand_width", 3),        # ESC W n
    0x68: ("expand_height", 3),       # ESC h n
    0x0E: ("height_on", 2),           # ESC SO
    0x14: ("height_off", 2),          # ESC DC4
    0x52: ("intl_charset", 3),        # ESC R n
    0x2F: ("slash_zero", 3),          # ESC / n
    0x36: ("charset1", 2),            # ESC 6
    0x37: ("charset2", 2),            # ESC 7
    0x4D: ("pitch_12", 2),            # ESC M
    0x50: ("pitch_15", 2),            # ESC P
    0x3A: ("pitch_16", 2),            # ESC :
    0x67: ("pitch_14", 2),            # ESC g
    0x20: ("char_spacing", 3),        # ESC SP n
    0x7A: ("line_spacing", 3),        # ESC z n
    0x30: ("line_spacing_3mm", 2),    # ESC 0
    0x61: ("feed_lines", 3),          # ESC a n
    0x4A: ("feed_quarter_mm", 3),     # ESC J n: n/4 mm
    0x49: ("feed_eighth_mm", 3),      # ESC I n: n/8 mm
    0x6C: ("left_margin", 3),         # ESC l n
    0x51: ("right_margin", 3),        # ESC Q n
    0x4E: ("bottom_margin", 3),       # ESC N n
    0x4F: ("bottom_margin_off", 2),   # ESC O
    0x64: ("cut", 3),                 # ESC d n
    0x07: ("drawer_pulse", 4),        # ESC BEL n1 n2
    0x70: ("jis_on", 2),              # ESC p
    0x71: ("jis_off", 2),             # ESC q
    0x24: ("shift_jis", 3),           # ESC $ n
    0x25: ("download_select", 3),     # ESC % n
    0x0C: ("raster_exec", 3),         # ESC FF n: n = NUL FF mode, EOT EOT mode
}

# Star code page numbers (ESC GS t n) -> the emulator's character tables, by their ESC/POS
# numbers in ``receiptd.emulator.charsets`` (unknown numbers print as PC437).
STAR_CODEPAGES: dict[int, int] = {
    0: 0, 1: 0, 2: 1, 3: 0, 4: 19, 5: 18, 6: 3, 7: 35, 8: 4, 9: 5, 10: 17, 11: 34, 12: 13,
    13: 36, 14: 37, 15: 14, 17: 38, 21: 21, 32: 16, 33: 45, 34: 46,
}

# ESC b n1: the barcode symbologies (n1 or its ASCII digit).
BARCODES: dict[int, str] = {
    0: "UPC-E", 1: "UPC-A", 2: "EAN8", 3: "EAN13", 4: "CODE39", 5: "ITF", 6: "CODE128",
    7: "CODE93", 8: "CODABAR",
}


def _u16(lo: int, hi: int) -> int:
    return lo | (hi << 8)


def _unknown(buf: bytes | bytearray, n: int = 2) -> Command:
    return Command("unknown", bytes(buf[:n]))


def _terminated(name: str, buf: bytes | bytearray, start: int, end: bytes) -> Command | None:
    """A command that runs up to and including ``end`` (found at or after ``start``)."""
    at = bytes(buf[: start + TERMINATED_MAX]).find(end, start)
    if at < 0:
        if len(buf) >= start + TERMINATED_MAX:
            return _unknown(buf, start)
        return None
    return Command(name, bytes(buf[: at + len(end)]), data=bytes(buf[start:at]))


def _text_run(buf: bytes | bytearray) -> Command:
    i = 0
    while i < len(buf) and i < TEXT_RUN_MAX and buf[i] >= 0x20:
        i += 1
    return Command("text", bytes(buf[:i]))


def decode(buf: bytes | bytearray, raster: bool = False) -> Command | None:
    """The command at the head of ``buf``; ``None`` if it is not complete yet."""
    if not buf:
        return None
    b0 = buf[0]
    if raster and b0 in (0x62, 0x6B):  # b n1 n2 d... / k n1 n2 d...
        if len(buf) < 3:
            return None
        name = "raster_line" if b0 == 0x62 else "raster_overlay"
        return Command(name, bytes(buf[:3]), payload_len=_u16(buf[1], buf[2]))
    if b0 == ESC:
        return _decode_esc(buf)
    if raster:
        if b0 in (FF, ETB, ENQ, EOT, CAN):
            return Command({FF: "raster_ff", ETB: "etb", CAN: "cancel"}.get(b0, "realtime"),
                           bytes(buf[:1]))
        return Command("control", bytes(buf[:1]))  # text is not printed in raster mode
    if b0 >= 0x20:
        return _text_run(buf)
    return Command(SINGLE.get(b0, "control"), bytes(buf[:1]))


def _decode_esc(buf: bytes | bytearray) -> Command | None:
    if len(buf) < 2:
        return None
    fn = buf[1]
    fixed = ESC_FIXED.get(fn)
    if fixed is not None:
        name, length = fixed
        return Command(name, bytes(buf[:length])) if len(buf) >= length else None
    if fn == ACK:  # ESC ACK SOH / ESC ACK CAN
        if len(buf) < 3:
            return None
        return Command("realtime" if buf[2] in (SOH, CAN) else "unknown", bytes(buf[:3]))
    if fn == GS:
        return _decode_esc_gs(buf)
    if fn == RS:  # ESC RS x n: a, E, F, d, r, c, C, m, ... all four bytes
        if len(buf) < 4:
            return None
        name = {0x61: "asb", 0x45: "etb_init", 0x46: "font"}.get(buf[2], "rs_setting")
        return Command(name, bytes(buf[:4]))
    if fn == FS:
        return _decode_esc_fs(buf)
    if fn == 0x2A:  # ESC * r ...
        return _decode_raster_cmd(buf)
    if fn == 0x23:  # ESC # ... LF NUL
        if len(buf) < 3:
            return None
        name = "version_request" if buf[2] == 0x2A else "memory_switch"
        return _terminated(name, buf, 2, b"\n\x00")
    if fn == 0x3F:  # ESC ? LF NUL: reset the printer
        if len(buf) < 4:
            return None
        return Command("hardware_reset", bytes(buf[:4])) if buf[2:4] == b"\n\x00" \
            else _unknown(buf)
    if fn == 0x62:  # ESC b n1 n2 n3 n4 d... RS
        if len(buf) < 6:
            return None
        return _terminated("barcode", buf, 6, bytes([RS]))
    if fn in (0x4B, 0x4C, 0x6B, 0x58):  # bit images: ESC K / L (8 dots), k / X (24 dots)
        if len(buf) < 4:
            return None
        n = _u16(buf[2], buf[3])
        per = {0x4B: 1, 0x4C: 1, 0x6B: 24, 0x58: 3}[fn]
        return Command("bit_image", bytes(buf[:4]), payload_len=n * per)
    if fn in (0x42, 0x44):  # ESC B / ESC D n1 ... nk NUL: vertical / horizontal tabs
        return _terminated("vtabs" if fn == 0x42 else "tabs", buf, 2, b"\x00")
    if fn == 0x43:  # ESC C n / ESC C NUL n: page length
        if len(buf) < 3:
            return None
        if buf[2] == 0:
            return Command("page_length", bytes(buf[:4])) if len(buf) >= 4 else None
        return Command("page_length", bytes(buf[:3]))
    return _unknown(buf)


def _decode_esc_gs(buf: bytes | bytearray) -> Command | None:
    if len(buf) < 3:
        return None
    fn = buf[2]
    fixed = {0x61: ("align", 4), 0x74: ("codepage", 4), 0x41: ("abs_position", 5),
             0x52: ("rel_position", 5), 0x62: ("smoothing", 4), 0x23: ("memory_switch_set", 11),
             0x03: ("print_end_counter", 6), 0x07: ("buzzer", 6), 0x19: ("buzzer_setting", 7),
             0x1A: ("snout", 7), 0x63: ("reduced", 5), 0x67: ("start_trigger", 6),
             0x68: ("turnover", 7)}.get(fn)
    if fixed is not None:
        name, length = fixed
        return Command(name, bytes(buf[:length])) if len(buf) >= length else None
    if fn == 0x79:  # ESC GS y: QR code
        return _decode_symbol(buf, "qr")
    if fn == 0x78:  # ESC GS x: PDF417
        return _decode_symbol(buf, "pdf417")
    if fn == 0x50:  # ESC GS P n: page mode
        if len(buf) < 4:
            return None
        return Command("page_mode", bytes(buf[:4])) if buf[3] in b"01678" else _unknown(buf, 4)
    if fn in (0x28, 0x29):  # ESC GS ( x pL pH d... / ESC GS ) x pL pH d...
        if len(buf) < 6:
            return None
        return Command("paren", bytes(buf[:6]), payload_len=_u16(buf[4], buf[5]))
    if fn == 0x38:  # ESC GS 8 x p1 p2 p3 p4 d...
        if len(buf) < 8:
            return None
        length = buf[4] | buf[5] << 8 | buf[6] << 16 | buf[7] << 24
        return Command("paren", bytes(buf[:8]), payload_len=length)
    return _unknown(buf, 3)


def _decode_symbol(buf: bytes | bytearray, kind: str) -> Command | None:
    """ESC GS y (QR) and ESC GS x (PDF417): S settings, D data, P print, I information."""
    if len(buf) < 4:
        return None
    sub = buf[3]
    if sub in (0x50, 0x49):  # P print / I information
        return Command(f"{kind}_{'print' if sub == 0x50 else 'info'}", bytes(buf[:4]))
    if sub == 0x53:  # S m n (PDF417 S 0 n p1 p2)
        if len(buf) < 5:
            return None
        length = 8 if kind == "pdf417" and buf[4] == 0x30 else 6
        return Command(f"{kind}_setting", bytes(buf[:length])) if len(buf) >= length else None
    if sub != 0x44:
        return _unknown(buf, 4)
    if kind == "pdf417":  # ESC GS x D nL nH d...
        if len(buf) < 6:
            return None
        return Command("pdf417_data", bytes(buf[:6]), payload_len=_u16(buf[4], buf[5]))
    if len(buf) < 5:
        return None
    if buf[4] == 0x31:  # ESC GS y D 1 m nL nH d...: data, automatic analysis
        if len(buf) < 8:
            return None
        return Command("qr_data", bytes(buf[:8]), payload_len=_u16(buf[6], buf[7]))
    if buf[4] == 0x32:  # ESC GS y D 2 a [m nL nH d...] x a: data in blocks, manual
        if len(buf) < 6:
            return None
        pos = 6
        parts = []
        for _ in range(buf[5]):
            if pos + 3 > len(buf):
                return None
            n = _u16(buf[pos + 1], buf[pos + 2])
            if pos + 3 + n > len(buf):
                return None if pos + 3 + n <= MANUAL_QR_MAX else _unknown(buf, 5)
            parts.append(bytes(buf[pos + 3 : pos + 3 + n]))
            pos += 3 + n
        return Command("qr_data_manual", bytes(buf[:pos]), data=b"".join(parts))
    return _unknown(buf, 5)


def _decode_esc_fs(buf: bytes | bytearray) -> Command | None:
    if len(buf) < 3:
        return None
    fn = buf[2]
    if fn == 0x70:  # ESC FS p n m: print a stored logo
        return Command("logo_print", bytes(buf[:5])) if len(buf) >= 5 else None
    if fn == 0x71:  # ESC FS q n [xL xH yL yH d...]...: store logos
        if len(buf) < 4:
            return None
        end = images_end(buf, 4, buf[3])
        return None if end is None else Command("logo_store", bytes(buf[:end]))
    return _unknown(buf, 3)


def _decode_raster_cmd(buf: bytes | bytearray) -> Command | None:
    """ESC * r A/B/C/R/S, and ESC * r <x> n NUL with n in ASCII decimal."""
    if len(buf) < 3:
        return None
    if buf[2] != 0x72:
        return _unknown(buf)
    if len(buf) < 4:
        return None
    letter = buf[3]
    short = {0x41: "raster_enter", 0x42: "raster_quit", 0x43: "raster_clear",
             0x52: "raster_init", 0x53: "raster_audio"}.get(letter)
    if short is not None:
        return Command(short, bytes(buf[:4]))
    return _terminated("raster_setting", buf, 4, b"\x00")


def ascii_number(data: bytes) -> int | None:
    """The decimal number a raster setting carries in ASCII digits (``ESC * r E 1 3 NUL``)."""
    digits = data.decode("ascii", errors="replace")
    return int(digits) if digits.isdigit() else None


def realtime_length(data: bytes | bytearray) -> int:
    """Length of a complete real-time command at the start of ``data``, else 0."""
    for seq in REALTIME:
        if bytes(data[: len(seq)]) == seq:
            return len(seq)
    return 0


class StarFramer:
    """Walks received bytes command by command, tracking raster mode as the printer will.

    ``push(chunk)`` returns each real-time command that starts at a command boundary, with
    the offset in ``chunk`` just after it. The bytes themselves stay in the stream (where the
    interpreter skips them), as on the printer.
    """

    def __init__(self) -> None:
        self.pending = bytearray()  # the head of a command not complete yet
        self.skip = 0  # data bytes of the current command still to come
        self.raster = False

    @property
    def at_boundary(self) -> bool:
        return not self.pending and self.skip == 0

    def reset(self) -> None:
        self.pending.clear()
        self.skip = 0
        self.raster = False

    def push(self, chunk: bytes | bytearray) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        base = len(self.pending)
        buf = bytes(self.pending) + bytes(chunk)
        i = 0
        while i < len(buf):
            if self.skip:
                n = min(self.skip, len(buf) - i)
                i += n
                self.skip -= n
                continue
            cmd = decode(buf[i : i + FRAME_WINDOW], self.raster)
            if cmd is None:
                if len(buf) - i < FRAME_WINDOW:
                    break
                cmd = Command("unknown", buf[i : i + 1])  # never completes: step over a byte
            i += len(cmd.header)
            self.skip = cmd.payload_len
            self.observe(cmd)
            if cmd.name == "realtime":
                found.append((i - base, cmd.header))
        self.pending = bytearray(buf[i:])
        return found

    def observe(self, cmd: Command) -> None:
        """Follow the mode changes that change how the next bytes are framed."""
        if cmd.name == "raster_enter":
            self.raster = True
        elif cmd.name in ("raster_quit", "hardware_reset") or cmd.header == RESET:
            self.raster = False
