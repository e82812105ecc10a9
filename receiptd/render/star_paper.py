"""How much paper Star bytes take, and where between their commands the stream may be split:
``paper``'s raw walk, for the Star Line Mode and raster commands ``star`` writes (and the
common ones around them). A command this walk does not know ends it, as in ``paper``: the
estimate counts what came before, and no boundary is offered past it.

Counted: ``LF``, ``ESC a`` (lines), ``ESC J`` (n/4 mm), ``ESC d`` (a cut and, for n 2 and
3, the feed to the cutting position), barcodes (``ESC b``: bar height, a line of characters
under them), QR codes (``ESC GS y P``, sized from the data stored), raster lines (``b``, one
dot row each), ``ESC * r Y`` feeds and the cuts of ``ESC FF EOT``; text lines that wrap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from receiptd.render.profiles import Profile

__all__ = ["star_boundaries", "star_paper_mm"]

LINE_MM = 4.0  # ESC z 1, set by the Line Mode prologue
CUT_FEED_MM = 25.0  # ESC d 2/3: the feed to the cutting position (model-dependent; ~1 inch)
CUT_MM = 3.0
HRI_DOTS = 30
QR_CELL = 3  # ESC GS y S 2 default
FONT_DOTS = 24

_TEXT_RUN = re.compile(rb"[^\x00-\x1f]+")
_RASTER_NUMBER = re.compile(rb"\x1b\*r(?:[A-Za-z]|m[lr])(\d*)\x00")
# Fixed-length Line Mode commands: bytes after ESC → total length.
_FIXED = {
    b"@": 2, b"E": 2, b"F": 2, b"4": 2, b"5": 2, b"z": 3, b"-": 3, b"_": 3, b"i": 4, b"W": 3,
    b"h": 3, b"a": 3, b"J": 3, b"I": 3, b"d": 3, b"\x07": 4, b"0": 2, b"1": 2, b"R": 3,
    b"/": 3, b"M": 2, b"P": 2, b":": 2, b"g": 2, b" ": 3,
}


class _Unknown(Exception):
    """A command whose length the walk cannot know."""


@dataclass
class _Walk:
    profile: Profile
    dots: float = 0.0
    high: int = 1
    wide: int = 1
    font_b: bool = False
    columns: int = 0
    raster: bool = False
    qr_cell: int = QR_CELL
    qr_bytes: int = 0
    eot_cut: bool = False

    @property
    def dpmm(self) -> float:
        return self.profile.dots_per_mm

    def line(self, lines: int = 1) -> None:
        self.dots += lines * max(LINE_MM * self.dpmm, FONT_DOTS * self.high)
        self.columns = 0

    def pending(self) -> None:
        if self.columns:
            self.line()

    def text(self, columns: int) -> None:
        across = self.profile.columns_b if self.font_b else self.profile.columns
        total = self.columns + columns
        while total > across:
            self.line()
            total -= across
        self.columns = total


def _u16(data: bytes, at: int) -> int:
    return data[at] | data[at + 1] << 8


def _need(data: bytes, end: int) -> int:
    if end > len(data):
        raise _Unknown
    return end


def _esc(w: _Walk, data: bytes, i: int) -> int:
    """Walk the ESC command at ``i``; the offset after it."""
    op = data[i + 1:i + 2]
    if not op:
        raise _Unknown
    if op in _FIXED:
        end = _need(data, i + _FIXED[op])
        n = data[i + 2] if end > i + 2 else 0
        if op == b"@":
            w.high, w.wide, w.font_b = 1, 1, False
        elif op == b"i":
            w.high, w.wide = n % 48 + 1, data[i + 3] % 48 + 1
        elif op == b"a":
            w.pending()
            w.line(n)
        elif op == b"J":
            w.columns = 0
            w.dots += n / 4 * w.dpmm
        elif op == b"I":
            w.columns = 0
            w.dots += n / 8 * w.dpmm
        elif op == b"d":
            w.pending()
            w.dots += CUT_MM * w.dpmm + (CUT_FEED_MM * w.dpmm if n % 48 >= 2 else 0)
        return end
    if op == b"\x1d":
        return _esc_gs(w, data, i)
    if op == b"\x1e":  # ESC RS F n (font), other ESC RS x n settings
        end = _need(data, i + 4)
        if data[i + 2:i + 3] == b"F":
            w.font_b = data[i + 3] % 48 == 1
        return end
    if op == b"b":  # ESC b n1 n2 n3 n4 d... RS
        end = data.find(b"\x1e", i + 6)
        if end < 0:
            raise _Unknown
        w.pending()
        under = data[i + 3] % 48 in (2, 4)
        w.dots += data[i + 5] + (HRI_DOTS if under else 0)
        return end + 1
    if op == b"k":  # ESC k n1 n2 d...: one band, printed by the feed after it
        k = _u16(data, i + 2) * 24 if i + 4 <= len(data) else 0
        return _need(data, i + 4 + k)
    if op == b"*":
        return _raster_command(w, data, i)
    if op == b"\x0c":  # ESC FF NUL / EOT: execute FF / EOT mode
        end = _need(data, i + 3)
        if data[i + 2] == 4 and w.eot_cut:
            w.dots += (CUT_MM + CUT_FEED_MM) * w.dpmm
        return end
    raise _Unknown


def _esc_gs(w: _Walk, data: bytes, i: int) -> int:
    op = data[i + 2:i + 3]
    if op in (b"t", b"a"):
        return _need(data, i + 4)
    if op == b"y":
        kind = data[i + 3:i + 4]
        if kind == b"S":
            end = _need(data, i + 6)
            if data[i + 4] == 0x32:
                w.qr_cell = data[i + 5]
            return end
        if kind == b"D":  # ESC GS y D 1 m nL nH d...
            n = _u16(data, i + 6) if i + 8 <= len(data) else 0
            w.qr_bytes = n
            return _need(data, i + 8 + n)
        if kind == b"P":
            w.pending()
            version = 1 + w.qr_bytes // 14  # roughly: each version holds ~14 more bytes
            w.dots += (21 + 4 * (version - 1) + 8) * w.qr_cell
            return i + 4
    raise _Unknown


def _raster_command(w: _Walk, data: bytes, i: int) -> int:
    """ESC * r A / B / C, and the ``ESC * r x n NUL`` settings."""
    letter = data[i + 3:i + 4]
    if data[i + 2:i + 3] != b"r" or not letter:
        raise _Unknown
    if letter in (b"A", b"B", b"C", b"R"):
        w.raster = letter == b"A" or (w.raster and letter != b"B")
        return i + 4
    match = _RASTER_NUMBER.match(data, i)
    if match is None:
        raise _Unknown
    n = int(match.group(1) or b"0")
    if letter == b"Y":
        w.dots += n
    elif letter == b"E":
        w.eot_cut = n in (8, 9, 12, 13)
    return match.end()


def _walk(data: bytes, w: _Walk) -> Iterator[int]:
    """Walk ``data``; yields the offset after each command, or -1 inside text. Raises
    ``_Unknown`` at a command whose length it cannot know."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x1B:
            i = _esc(w, data, i)
        elif w.raster and b == 0x62:  # b n1 n2 d...: one dot row
            i = _need(data, i + 3 + (_u16(data, i + 1) if i + 3 <= n else 0))
            w.dots += 1
        elif b in (0x0A, 0x0D, 0x0C):
            w.line()
            i += 1
        elif b >= 0x20 and not w.raster:
            run = _TEXT_RUN.match(data, i)
            end = run.end() if run else i + 1
            w.text((end - i) * w.wide)
            i = end
            yield -1
            continue
        else:
            i += 1  # BEL, SUB, other control bytes: no paper
        yield i


def star_paper_mm(data: bytes, profile: Profile) -> float:
    """Paper Star bytes take, in mm; a command of unknown length ends the estimate."""
    walk = _Walk(profile)
    try:
        for _ in _walk(data, walk):
            pass
    except _Unknown:
        pass
    walk.pending()
    return walk.dots / profile.dots_per_mm


def star_boundaries(data: bytes, profile: Profile) -> list[int]:
    """Offsets in ``data`` between two commands (after a line feed or a whole command),
    up to the first command of unknown length."""
    out: list[int] = []
    try:
        for at in _walk(data, _Walk(profile)):
            if at > 0:
                out.append(at)
    except _Unknown:
        pass
    return out
