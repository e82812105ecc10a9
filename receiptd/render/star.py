"""One section of a rendering as Star bytes: the same items the ESC/POS writer takes, in Star
Line Mode (``StarWriter``) or, for printers that print raster lines only (TSP100 class, Star
Graphic mode), as raster lines alone (``StarRasterWriter``).

Like ``writer.Writer``, a writer tracks the printer's style and code page, sends a mode
command only where the next item needs another one, and ``finish`` returns the printer to
the prologue's state, so each section's bytes depend only on its own items.

Sources, cited by section in the byte-fixture tests (``tests/render/test_star_bytes.py``):
Star Micronics, "STAR Line Mode Command Specifications" (Line Thermal Printer, Rev 0.09),
and for the raster commands also its Line Thermal/Dot Printer edition (Rev. 0.00).

Choices the specification leaves to us:

* Pictures (images, text lines the printer cannot print, barcodes and QR codes it cannot
  print itself) go in Line Mode as ``ESC k`` fine-density bit images, one band of 24 dot
  rows at a time, each band followed by ``ESC J`` feeding exactly its height. Raster mode
  (``ESC * r A``) is not used between text: entering it prints what is buffered as a form
  feed and leaving it goes to the top of the next page, both outside our control.
* Raster-only printers get every item as raster lines: the printer's own fonts, barcodes and
  QR codes are not used at all, the lines are drawn as the PNG preview draws them.
* Sizes above 6× (``ESC i`` takes 1× to 6×) print at 6×.
* A drawer kick sets the pulse of external device 1 (``ESC BEL``) before ``BEL``, as
  ``ESC @`` does not reset it; external device 2 (``SUB``) has a fixed pulse.
"""

from __future__ import annotations

from PIL import Image

from receiptd.render import capabilities
from receiptd.render.items import (
    CUT_FEED_LINES,
    DEFAULT_STYLE,
    Alignment,
    BarcodeItem,
    CutItem,
    DrawerItem,
    FeedItem,
    ImageItem,
    Item,
    QrItem,
    Style,
    TextLine,
)
from receiptd.render.profiles import Profile
from receiptd.render.raster import line_bitmap, line_dots, modules_bitmap, qr_bitmap
from receiptd.render.text import charset_of

__all__ = [
    "BAND_ROWS",
    "StarRasterWriter",
    "StarWriter",
    "code_page_number",
    "new_writer",
    "raster_number",
]

ESC, GS, RS = b"\x1b", b"\x1d", b"\x1e"
LF, BEL, SUB = b"\n", b"\x07", b"\x1a"

INITIALIZE = ESC + b"@"  # ESC @, command initialization
LINE_FEED_4MM = ESC + b"z\x01"  # ESC z 1: line feed amount 4 mm
EMPHASIS_ON, EMPHASIS_OFF = ESC + b"E", ESC + b"F"
INVERSE_OFF = ESC + b"5"  # ESC 5, cancel white/black inverted printing
DRAWER_PULSE = ESC + BEL + bytes([20, 20])  # ESC BEL n1 n2: 200 ms on, 200 ms delay
ALIGN = {"left": 0, "center": 1, "right": 2}  # ESC GS a n
MAX_EXPANSION = 6  # ESC i: 1x .. 6x
BAND_ROWS = 24  # ESC k: one band of a fine density bit image is 24 dots high
MAX_FEED_LINES = 127  # ESC a n: 1 <= n <= 127
QR_MAX_CELL = 8  # ESC GS y S 2 n: 1 <= n <= 8
QR_EC = {"L": 0, "M": 1, "Q": 2, "H": 3}  # ESC GS y S 1 n

# ESC b n1: the printer's barcode types.
BARCODE_TYPES = {"UPC-A": 1, "EAN8": 2, "EAN13": 3, "CODE39": 4, "ITF": 5, "CODE128": 6,
                 "CODABAR": 8}
# ESC b n3 for barcodes of one module width (UPC/EAN, CODE128): 2, 3 or 4 dots.
MODULE_MODES = {2: 1, 3: 2, 4: 3}
# ESC b n3 for barcodes of narrow and wide bars: the modes whose narrow:wide dots are what
# the layout draws (wide = ceil(2.5 * narrow)). Code39 and NW-7 share one table (modes 1-9:
# 2:6, 3:9, 4:12, 2:5, 3:8, 4:10, 2:4, 3:6, 4:8); ITF has its own (2:5, 4:10, 6:15, 2:4,
# 4:8, 6:12, 2:6, 3:9, 4:12), with no 3:8: a 3-dot ITF is drawn.
RATIO_MODES = {2: 4, 3: 5, 4: 6}
ITF_MODES = {2: 1, 4: 2}
RATIO_SYMBOLOGIES = frozenset({"CODE39", "CODABAR"})


def code128_data(text: str) -> str:
    """Code128 content as ``ESC b`` takes it: ``%`` starts a two-character code there
    (appendix "Code 128", Regulations), so a ``%`` of the content is ``%0``, a control
    character 00-1F is ``%`` and 40-5F, and 7F is ``%5``. The printer picks the code set."""
    out = []
    for c in text:
        n = ord(c)
        if c == "%":
            out.append("%0")
        elif n < 0x20:
            out.append("%" + chr(0x40 + n))
        elif n == 0x7F:
            out.append("%5")
        else:
            out.append(c)
    return "".join(out)


def code_page_number(profile: Profile, name: str) -> int:
    """The ``ESC GS t`` number of code page ``name`` on this Star printer: the lowest one its
    capabilities profile gives that name, not 0 (0 is the printer's "normal" page)."""
    pages = capabilities.profiles()[profile.escpos_profile]["codePages"]
    numbers = sorted(int(n) for n, page in pages.items() if page == name and int(n) != 0)
    if not numbers:
        raise ValueError(f"{profile.escpos_profile} has no code page {name}")
    return numbers[0]


def raster_number(letter: bytes, n: int) -> bytes:
    """``ESC * r <letter> n NUL``: raster mode settings take ``n`` in ASCII decimal."""
    return ESC + b"*r" + letter + str(n).encode("ascii") + b"\x00"


def _pad(bitmap: Image.Image, align: Alignment, width_dots: int) -> Image.Image:
    """The bitmap moved right by its alignment (bit images have no alignment of their own)."""
    pad = {"left": 0, "center": (width_dots - bitmap.width) // 2}.get(
        align, width_dots - bitmap.width)
    if pad <= 0:
        return bitmap
    padded = Image.new("1", (bitmap.width + pad, bitmap.height), 0)
    padded.paste(bitmap, (pad, 0))
    return padded


class StarWriter:
    """One section in Star Line Mode, tracking style and code page."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.charset = charset_of(profile)
        self.out: list[bytes] = []
        self.style = DEFAULT_STYLE
        self.page = profile.encoding
        self.last_line = b""  # the text and LF of the last text line (see star_sections)

    def raw(self, data: bytes) -> None:
        self.out.append(data)

    # -- style ---------------------------------------------------------------------------

    def set_style(self, style: Style) -> None:
        cur = self.style
        if style.font != cur.font:
            self.raw(ESC + RS + b"F" + (b"\x01" if style.font == "b" else b"\x00"))
        if style.size != cur.size:
            high, wide = (min(n, MAX_EXPANSION) - 1 for n in (style.size[1], style.size[0]))
            self.raw(ESC + b"i" + bytes([high, wide]))
        if style.bold != cur.bold:
            self.raw(EMPHASIS_ON if style.bold else EMPHASIS_OFF)
        if bool(style.underline) != bool(cur.underline):
            self.raw(ESC + b"-" + (b"\x01" if style.underline else b"\x00"))
        if style.align != cur.align:
            self.raw(ESC + GS + b"a" + bytes([ALIGN[style.align]]))
        self.style = style

    def select_page(self, name: str) -> None:
        if name != self.page:
            self.raw(ESC + GS + b"t" + bytes([code_page_number(self.profile, name)]))
            self.page = name

    # -- text ----------------------------------------------------------------------------

    def line(self, line: TextLine) -> None:
        if line.raster:
            self.bitmap(line_bitmap(line, self.profile), "left")
            return
        self.set_style(line.style)
        text = self.encode(line.text)
        self.raw(text + LF)
        self.last_line = text + LF

    def encode(self, text: str) -> bytes:
        """Printable text (``Charset.printable``, not needing raster) as bytes, in a code page
        that holds it, switching pages (``ESC GS t``) only where a character needs it."""
        if text.isascii():
            return text.encode("ascii")
        wanted = frozenset(c for c in text if ord(c) >= 0x80)
        page = self.charset.page_for(wanted, self.page)
        if page is not None:
            chunks = [self._page_text(page, text)]
        else:
            chunks = [self._page_text(self.charset.page_for(frozenset(c), self.page), c)
                      if ord(c) >= 0x80 else c.encode("ascii") for c in text]
        return b"".join(chunks)

    def _page_text(self, page: str | None, text: str) -> bytes:
        if page is None:  # the layout lets no such character through; never guess a byte
            raise ValueError(f"no code page of {self.profile.name} holds {text!r}")
        if page != self.page:
            code = ESC + GS + b"t" + bytes([code_page_number(self.profile, page)])
            self.page = page
        else:
            code = b""
        table = self.charset.maps[page]
        return code + bytes(ord(c) if ord(c) < 0x80 else table[c] for c in text)

    # -- pictures ------------------------------------------------------------------------

    def bitmap(self, bitmap: Image.Image, align: Alignment) -> None:
        """A picture as ``ESC k`` bands of 24 dot rows, each fed by ``ESC J`` by its height
        (n/4 mm: 24 dots at 8 dots/mm are 3 mm, n = 12)."""
        self.set_style(DEFAULT_STYLE)
        image = _pad(bitmap, align, self.profile.width_dots)
        width_bytes = (image.width + 7) // 8
        feed = max(1, round(BAND_ROWS / self.profile.dots_per_mm * 4))
        for top in range(0, image.height, BAND_ROWS):
            band = Image.new("1", (width_bytes * 8, BAND_ROWS), 0)
            band.paste(image.crop((0, top, image.width, min(top + BAND_ROWS, image.height))),
                       (0, 0))
            self.raw(ESC + b"k" + bytes([width_bytes, 0]) + band.tobytes()
                     + ESC + b"J" + bytes([feed]))

    # -- items ---------------------------------------------------------------------------

    def item(self, item: Item) -> None:
        if isinstance(item, TextLine):
            self.line(item)
        elif isinstance(item, BarcodeItem):
            self.barcode(item)
        elif isinstance(item, QrItem):
            self.qr(item)
        elif isinstance(item, ImageItem):
            self.bitmap(item.bitmap, item.align)
        elif isinstance(item, FeedItem):
            self.feed(item.lines)
        elif isinstance(item, CutItem):
            if self.profile.cutter:  # ESC d 2 / 3: feed to the cutting position, then cut
                self.raw(ESC + b"d" + (b"\x03" if item.partial else b"\x02"))
            else:
                self.feed(CUT_FEED_LINES)
        elif isinstance(item, DrawerItem):
            self.raw(DRAWER_PULSE + BEL if item.pin == 2 else SUB)

    def feed(self, lines: int) -> None:
        while lines > 0:
            n = min(lines, MAX_FEED_LINES)
            self.raw(ESC + b"a" + bytes([n]))
            lines -= n

    def barcode(self, item: BarcodeItem) -> None:
        kind = BARCODE_TYPES.get(item.symbology)
        modes = (ITF_MODES if item.symbology == "ITF" else RATIO_MODES
                 if item.symbology in RATIO_SYMBOLOGIES else MODULE_MODES)
        mode = modes.get(item.width)
        if kind is None or mode is None:
            self._barcode_bitmap(item)
            return
        data = code128_data(item.data) if item.symbology == "CODE128" else item.printer_data
        hri_line = TextLine(item.hri_text, Style(align=item.align))
        if item.hri in ("above", "both"):
            self.line(hri_line)
        self.set_style(Style(align=item.align))
        # n2: 2 = characters under the bars, 1 = none; both feed a line after the bars.
        under = b"\x02" if item.hri in ("below", "both") else b"\x01"
        self.raw(ESC + b"b" + bytes([kind]) + under + bytes([mode, item.height])
                 + data.encode("ascii") + RS)

    def _barcode_bitmap(self, item: BarcodeItem) -> None:
        hri_line = TextLine(item.hri_text, Style(align=item.align))
        if item.hri in ("above", "both"):
            self.line(hri_line)
        self.bitmap(modules_bitmap(item.modules, item.height), item.align)
        if item.hri in ("below", "both"):
            self.line(hri_line)

    def qr(self, item: QrItem) -> None:
        if not self.profile.native_qr or item.size > QR_MAX_CELL:
            self.bitmap(qr_bitmap(item), item.align)
            return
        self.set_style(Style(align=item.align))
        data = item.data.encode("utf-8")
        self.raw(
            ESC + GS + b"yS0\x02"  # model 2
            + ESC + GS + b"yS1" + bytes([QR_EC[item.ec]])
            + ESC + GS + b"yS2" + bytes([item.size])
            + ESC + GS + b"yD1\x00" + len(data).to_bytes(2, "little") + data  # auto analysis
            + ESC + GS + b"yP"
        )

    def finish(self) -> bytes:
        """Return to the prologue's state (style and code page) and hand over the bytes."""
        self.set_style(DEFAULT_STYLE)
        self.select_page(self.profile.encoding)
        return b"".join(self.out)


class StarRasterWriter:
    """One section for a raster-only Star printer: every item as raster lines, between
    ``ESC * r A`` (enter raster mode, continuous paper, no cut when leaving) and
    ``ESC * r B`` (quit raster mode)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.out: list[bytes] = [raster_enter()]
        self.last_line = b""  # the raster lines of the last text line (see star_sections)

    def raw(self, data: bytes) -> None:
        self.out.append(data)

    def bitmap(self, bitmap: Image.Image, align: Alignment) -> bytes:
        """``b n1 n2 d…`` per dot row (the printer feeds one row after each); trailing white
        bytes of a row are not sent, and a white row is one byte."""
        image = _pad(bitmap, align, self.profile.width_dots)
        width_bytes = (image.width + 7) // 8
        data = image.tobytes()
        rows = []
        for y in range(image.height):
            row = data[y * width_bytes:(y + 1) * width_bytes].rstrip(b"\x00") or b"\x00"
            rows.append(b"b" + len(row).to_bytes(2, "little") + row)
        out = b"".join(rows)
        self.raw(out)
        return out

    def feed_dots(self, dots: int) -> None:
        if dots > 0:
            self.raw(raster_number(b"Y", dots))  # ESC * r Y n NUL: feed n dot rows

    def line(self, line: TextLine) -> None:
        self.last_line = self.bitmap(line_bitmap(line, self.profile), "left")

    def item(self, item: Item) -> None:
        profile = self.profile
        if isinstance(item, TextLine):
            self.line(item)
        elif isinstance(item, BarcodeItem):
            hri_line = TextLine(item.hri_text, Style(align=item.align))
            if item.hri in ("above", "both"):
                self.line(hri_line)
            self.bitmap(modules_bitmap(item.modules, item.height), item.align)
            if item.hri in ("below", "both"):
                self.line(hri_line)
        elif isinstance(item, QrItem):
            self.bitmap(qr_bitmap(item), item.align)
        elif isinstance(item, ImageItem):
            self.bitmap(item.bitmap, item.align)
        elif isinstance(item, FeedItem):
            self.feed_dots(item.lines * line_dots(profile))
        elif isinstance(item, CutItem):
            if profile.cutter:
                # EOT mode 13: form feed, cut feed, partial cut; 9: the same with a full cut.
                # Executed at once (ESC FF EOT), then back to no cut for ESC * r B.
                self.raw(raster_number(b"E", 13 if item.partial else 9) + ESC + b"\x0c\x04"
                         + raster_number(b"E", 1))
            else:
                self.feed_dots(CUT_FEED_LINES * line_dots(profile))
        elif isinstance(item, DrawerItem):
            self.raw(raster_number(b"D", 1 if item.pin == 2 else 2))

    def finish(self) -> bytes:
        self.raw(RASTER_QUIT)
        return b"".join(self.out)


RASTER_QUIT = ESC + b"*rB"
#: ESC * r R, initialize raster mode: the raster-only prologue. The Star Graphic mode
#: specification (TSP100 class) lists it and has no ``ESC @``, which is Line Mode's.
RASTER_INITIALIZE = ESC + b"*rR"


def raster_enter() -> bytes:
    """Enter raster mode; continuous paper (page length 0); EOT mode 1 (form feed only), so
    that quitting with lines still buffered does not cut."""
    return ESC + b"*rA" + raster_number(b"P", 0) + raster_number(b"E", 1)


def new_writer(profile: Profile) -> StarWriter | StarRasterWriter:
    """The writer of the profile's Star dialect."""
    if profile.dialect == "star_raster":
        return StarRasterWriter(profile)
    return StarWriter(profile)
