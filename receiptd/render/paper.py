"""How much paper a receipt takes: for the printing deadline (paper length over the slowest
print speed), for the paper counters, and for the per-printer cap checked at submission.

A document's estimate comes from its layout. Raw ESC/POS is walked command by command, the
way the printer reads it, and every command that moves paper counts: line feeds and wrapped
text lines, ``ESC d``/``ESC J`` (and the reverse feeds ``ESC e``/``ESC K``, which take as long),
``FF``, the feed of ``GS V`` cuts, raster and bit images, stored and downloaded graphics, NV
images, barcodes and 2D symbols. Counting line feeds alone let ``"X\\n" + "ESC d 255" * 6``
(one line by that count, six metres of paper) overrun every deadline.

The same walk finds the places between two commands where a status query may go without
becoming part of a command's data (``command_boundaries``): the spooler puts progress marks
there while a long receipt streams.

A marker's share is its lines alone (``marker_paper_mm``), so a marked reprint's estimate is
the journaled estimate plus the marker's, without the document.

Bytes for a Star profile (``profile.dialect``) are walked as Star commands (``star_paper``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from receiptd.document import Content
from receiptd.document.raw.syntax import Family, Fixed, Forbidden, Spec, param
from receiptd.document.raw.tables import PREFIXES
from receiptd.errors import InvalidDocument, RawRejected
from receiptd.render.items import (
    CUT_FEED_LINES,
    BarcodeItem,
    CutItem,
    FeedItem,
    ImageItem,
    Item,
    QrItem,
    TextLine,
)
from receiptd.render.layout import layout, marker_lines
from receiptd.render.profiles import Profile
from receiptd.render.star_paper import star_boundaries, star_paper_mm

__all__ = [
    "PAPER_LIMIT_CODE",
    "check_paper_limit",
    "command_boundaries",
    "marker_paper_mm",
    "paper_length_mm",
    "raw_paper_mm",
]

PAPER_LIMIT_CODE = "too_much_paper"
HRI_DOTS = 30  # one line of HRI characters below/above a barcode
CUT_MM = 3.0  # the feed a cut makes by itself, besides any feed asked before it
# What the printer holds in NV memory is not known here: an NV image is counted as a logo.
NV_IMAGE_MM = 40.0
# 2D symbols other than QR (PDF417, MaxiCode, ...): counted as a large QR code would be.
SYMBOL_MM = 40.0
FONT_DOTS = {False: 24, True: 17}  # character height: font A, font B
BARCODE_DOTS = 162  # GS h default
QR_MODULE_DOTS = 3  # GS ( k fn 67 default
TAB_COLUMNS = 8  # HT: the power-on tab stops are every 8 columns

_TEXT_RUN = re.compile(rb"[^\x00-\x1f]+")


def _item_mm(item: Item, profile: Profile) -> float:
    dpmm, line = profile.dots_per_mm, profile.line_mm
    if isinstance(item, TextLine):
        return line * item.style.size[1]
    if isinstance(item, BarcodeItem):
        hri = {"none": 0, "above": 1, "below": 1, "both": 2}[item.hri]
        return item.height / dpmm + hri * HRI_DOTS / dpmm
    if isinstance(item, QrItem):
        return (item.modules + 4) * item.size / dpmm
    if isinstance(item, ImageItem):
        return item.bitmap.height / dpmm
    if isinstance(item, FeedItem):
        return item.lines * line
    if isinstance(item, CutItem):
        return CUT_FEED_LINES * line
    return 0.0


def marker_paper_mm(marker: str | None, profile: Profile) -> float:
    """The paper a marker section takes, in mm (0 for ``None``): its lines × line height."""
    if marker is None:
        return 0.0
    return len(marker_lines(marker, profile)) * profile.line_mm


def paper_length_mm(content: Content, profile: Profile, *, marker: str | None = None) -> float:
    """Estimated paper used, in mm: text lines × line height (× character height), barcode,
    QR and image heights, feeds, and the feed before a cut; raw content by its commands
    (``raw_paper_mm``). A marker adds exactly ``marker_paper_mm(marker, profile)``."""
    return marker_paper_mm(marker, profile) + items_paper_mm(
        layout(content, profile), content, profile)


def items_paper_mm(items: list[Item] | None, content: Content, profile: Profile) -> float:
    """The paper of a receipt already laid out (``items``; None: raw ``content``)."""
    if items is None:
        return raw_paper_mm(content.raw_bytes(), profile)
    return sum(_item_mm(i, profile) for i in items)


def check_paper_limit(paper_mm: float, limit_mm: float, printer: str) -> None:
    """Refuse a receipt whose paper estimate is over the printer's cap: one receipt must not
    be able to empty a roll (or feed for minutes and hold every later receipt back).

    Raises ``InvalidDocument`` with code ``too_much_paper`` (422)."""
    if paper_mm > limit_mm:
        raise InvalidDocument(
            f"this receipt needs about {paper_mm / 1000:.2f} m of paper; printer {printer!r} "
            f"takes at most {limit_mm / 1000:.2f} m per receipt (max_paper_mm): split it, or "
            "remove the feeds",
            code=PAPER_LIMIT_CODE,
        )


# ---------------------------------------------------------------------- the raw walk


@dataclass
class _Mode:
    """What the printer has been told so far that changes how much paper things take."""

    line_dots: float
    font_b: bool = False
    height: int = 1  # character height multiplier (GS !, ESC !)
    width: int = 1
    columns_used: int = 0  # on the line being composed
    line_content: float = 0.0  # dots: the tallest thing on that line (bit images)
    kanji: bool | None = False  # None: unknown (after ESC @ in Kanji mode)
    barcode_dots: int = BARCODE_DOTS
    hri: int = 0
    qr_module: int = QR_MODULE_DOTS
    qr_bytes: int = 0
    graphics_dots: float = 0.0  # the print buffer's graphics (GS ( L fn 112/113)
    downloaded: dict[int, float] = field(default_factory=dict)  # key → height in dots
    bit_image_dots: float = 0.0  # GS * (downloaded bit image)


@dataclass
class _Walk:
    """A walk over raw ESC/POS: paper so far and the command boundaries passed."""

    profile: Profile
    mode: _Mode
    dots: float = 0.0
    boundaries: list[int] = field(default_factory=list)

    def line(self, lines: int = 1) -> None:
        """Print the line being composed and feed ``lines`` lines in all."""
        m = self.mode
        char = FONT_DOTS[m.font_b] * m.height
        self.dots += lines * max(m.line_dots, char, m.line_content)
        m.columns_used, m.line_content = 0, 0.0

    def pending(self) -> None:
        """Commands that print the line being composed before they act."""
        if self.mode.columns_used or self.mode.line_content:
            self.line()

    def text(self, columns: int) -> None:
        """``columns`` more character cells on the line; a full line wraps onto the next."""
        m = self.mode
        across = self.profile.columns_b if m.font_b else self.profile.columns
        total = m.columns_used + columns
        while total > across:
            self.line()
            total -= across
        m.columns_used = total

    def mm(self) -> float:
        return self.dots / self.profile.dots_per_mm


def _spec_end(data: bytes, start: int, table: Mapping[int, Spec]) -> tuple[str, int]:
    """(command name, offset past it) for the ESC/GS/FS command at ``start``.

    Raises ``RawRejected`` for a command the allow-list does not know or forbids: its length
    is unknown, so the walk cannot go on."""
    pos = start + 1
    members = table
    while True:
        spec = members.get(param(data, pos, start))
        if spec is None or isinstance(spec, Forbidden):
            raise RawRejected(f"command at offset {start} has no known length")
        if isinstance(spec, Family):
            members, pos = spec.members, pos + 1
            continue
        end = pos + 1 + spec.params if isinstance(spec, Fixed) else spec.end(data, start, pos + 1)
        if end > len(data):
            raise RawRejected(f"command at offset {start} is cut off")
        return data[start:pos + 1].hex(" ").upper(), end


def _u16(data: bytes, at: int) -> int:
    return data[at] | data[at + 1] << 8


def _apply(w: _Walk, name: str, data: bytes, start: int, end: int) -> None:
    """What one complete command does to the paper and to the mode."""
    m, dpmm = w.mode, w.profile.dots_per_mm
    body = data[start:end]
    n = body[2] if len(body) > 2 else 0
    if name == "1B 40":  # ESC @: print modes back to the power-on ones
        kanji = m.kanji
        w.mode = _Mode(line_dots=round(w.profile.line_mm * dpmm))
        w.mode.kanji = False if kanji is False else None
    elif name == "1B 32":  # ESC 2
        m.line_dots = round(w.profile.line_mm * dpmm)
    elif name == "1B 33":  # ESC 3 n
        m.line_dots = n
    elif name == "1B 64":  # ESC d n: print and feed n lines
        w.pending()
        w.line(n)
    elif name in ("1B 65", "1B 4B"):  # reverse feeds: the paper moves as long
        w.pending()
        w.dots += n * m.line_dots if name == "1B 65" else n
    elif name == "1B 4A":  # ESC J n: print and feed n motion units
        w.pending()
        w.dots += n
    elif name == "1B 21":  # ESC ! n: font, double height and width
        m.font_b, m.height, m.width = bool(n & 1), 2 if n & 0x10 else 1, 2 if n & 0x20 else 1
    elif name == "1D 21":  # GS ! n
        m.width, m.height = (n >> 4) + 1, (n & 0x0F) + 1
    elif name == "1B 4D":
        m.font_b = n in (1, 49)
    elif name == "1D 56":  # GS V: cut, with a feed for function B/C/D
        w.pending()
        w.dots += CUT_MM * dpmm + (body[3] if len(body) > 3 else 0)
    elif name == "1D 76":  # GS v 0: raster image
        mode, rows = body[3], _u16(body, 6)
        w.pending()
        w.dots += rows * (2 if mode & 2 else 1)
    elif name == "1B 2A":  # ESC *: one band of a bit image, on the line being composed
        m.line_content = max(m.line_content, 24 if n in (32, 33) else 8)
    elif name == "1D 2A":  # GS * x y: define a downloaded bit image
        m.bit_image_dots = body[3] * 8
    elif name == "1D 2F":  # GS / m: print it
        w.pending()
        w.dots += m.bit_image_dots * (2 if n & 2 else 1)
    elif name == "1D 68":
        m.barcode_dots = n
    elif name == "1D 48":
        m.hri = n
    elif name == "1D 6B":  # GS k: a barcode
        w.pending()
        hri_lines = {1: 1, 2: 1, 3: 2, 49: 1, 50: 1, 51: 2}.get(m.hri, 0)
        w.dots += m.barcode_dots + hri_lines * HRI_DOTS
    elif name == "1D 28 6B":
        _symbol(w, body)
    elif name in ("1D 28 4C", "1D 38 4C"):
        _graphics(w, body, 4 if name == "1D 38 4C" else 2)
    elif name == "1C 70":  # FS p: an NV image
        w.pending()
        w.dots += NV_IMAGE_MM * dpmm
    elif name == "1C 26":
        m.kanji = True
    elif name == "1C 2E":
        m.kanji = False


def _symbol(w: _Walk, body: bytes) -> None:
    """GS ( k: 2D symbols. QR: store (fn 80), module size (fn 67), print (fn 81)."""
    m = w.mode
    cn, fn = (body[5], body[6]) if len(body) > 6 else (0, 0)
    if cn == 49 and fn == 67 and len(body) > 7:
        m.qr_module = body[7]
    elif cn == 49 and fn == 80:
        m.qr_bytes = max(0, _u16(body, 3) - 3)
    elif fn == 81:
        w.pending()
        if cn == 49:
            version = 1 + m.qr_bytes // 14  # roughly: each version holds ~14 more bytes
            w.dots += (21 + 4 * (version - 1) + 8) * m.qr_module
        else:
            w.dots += SYMBOL_MM * w.profile.dots_per_mm


def _graphics(w: _Walk, body: bytes, width: int) -> None:
    """GS ( L / GS 8 L: print-buffer, downloaded and NV graphics."""
    m, at = w.mode, 3 + width  # body: GS ( L pL pH m fn ...
    fn = body[at + 1] if len(body) > at + 1 else 0
    if fn in (112, 113) and len(body) > at + 9:  # store in the print buffer: a bx by c x y
        m.graphics_dots = _u16(body, at + 8) * (2 if body[at + 4] == 2 else 1)
    elif fn in (83, 84) and len(body) > at + 9:  # define download graphics: a kc1 kc2 b x y
        m.downloaded[_u16(body, at + 3)] = _u16(body, at + 8)
    elif fn in (2, 50):  # print the print buffer's graphics
        w.pending()
        w.dots += m.graphics_dots
    elif fn == 85 and len(body) > at + 4:  # print a downloaded graphic
        w.pending()
        w.dots += m.downloaded.get(_u16(body, at + 2), NV_IMAGE_MM * w.profile.dots_per_mm)
    elif fn == 69:
        w.pending()
        w.dots += NV_IMAGE_MM * w.profile.dots_per_mm


def _start(profile: Profile) -> _Walk:
    return _Walk(profile, _Mode(line_dots=round(profile.line_mm * profile.dots_per_mm)))


def _walk(data: bytes, w: _Walk) -> Iterator[int]:
    """Walk ``data``; yields the offset after each command, or -1 where no status query may
    go. Raises ``RawRejected`` at a command whose length it cannot know."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        table = PREFIXES.get(b)
        if table is not None:
            name, end = _spec_end(data, i, table)
            _apply(w, name, data, i, end)
            i = end
        elif b in (0x0A, 0x0C):  # LF; FF prints the line too (and feeds to a label's mark)
            w.line()
            i += 1
        elif b == 0x09:
            w.text(TAB_COLUMNS * w.mode.width)
            i += 1
        elif b >= 0x20:
            run = _TEXT_RUN.match(data, i)
            end = run.end() if run else i + 1
            w.text((end - i) * w.mode.width)
            i = end
            yield -1  # inside text: no boundary (a double-byte character may go on)
            continue
        else:
            i += 1  # other control bytes: no paper
            if b == 0x10:
                yield -1  # never right after a DLE: a query there would pair with it
                continue
        yield i


def raw_paper_mm(data: bytes, profile: Profile) -> float:
    """Paper raw ESC/POS takes, in mm, from every command that feeds or prints (see the
    module docstring). A command of unknown length ends the estimate there."""
    if profile.dialect != "escpos":
        return star_paper_mm(data, profile)
    walk = _start(profile)
    try:
        for _ in _walk(data, walk):
            pass
    except RawRejected:
        pass
    walk.pending()
    return walk.mm()


def command_boundaries(data: bytes, profile: Profile) -> list[int]:
    """Offsets in ``data`` that lie between two commands (after a line feed or a complete
    ESC/GS/FS command) outside Kanji mode: a real-time status query written there is not
    taken as part of any command. Stops at the first command of unknown length."""
    if profile.dialect != "escpos":
        return star_boundaries(data, profile)
    out: list[int] = []
    walk = _start(profile)
    try:
        for at in _walk(data, walk):
            if at > 0 and walk.mode.kanji is False:
                out.append(at)
    except RawRejected:
        pass
    return out
