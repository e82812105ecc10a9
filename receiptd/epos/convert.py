"""An ``<epos-print>`` document as receiptd content: its elements mapped onto document blocks.

What each element becomes (docs/DESIGN.md "Epson ePOS-Print" has the whole table):

* ``text``: its attributes set the text state, which lasts for the following elements (an
  empty ``<text em="true"/>`` only sets state); its characters run on until a line feed
  (``&#10;``). ``em`` is bold, ``ul`` underline, ``dw``/``dh``/``width``/``height`` the size,
  ``font`` A or B (``font_c`` and the special fonts print as the nearest of the two), ``x``
  pads the line to that position. ``lang``, ``smooth``, ``reverse``, ``color``, ``linespc``
  and ``rotate`` have no equivalent and are left out (receiptd picks code pages itself).
* ``feed``: ``line`` lines, or ``unit`` dots as whole lines (30 dots a line).
* ``image``: the raster as a PNG (``receiptd.epos.raster``), aligned by its ``align``
  attribute (Odoo sends one) or else the text alignment.
* ``barcode``: the document model's symbologies; ``code93`` and ``gs1_128`` as CODE128 of the
  same data; UPC-E and GS1 DataBar, which it has not, as their data in text.
* ``symbol``: QR codes as QR codes; every other two-dimensional symbol (PDF417, MaxiCode,
  GS1 DataBar stacked) as a QR code of the same data, which 2D scanners read as well.
* ``cut``: a cut; ``pulse``: a drawer kick (``drawer_1`` is pin 2, ``drawer_2`` pin 5).
* ``hline``: a rule across the line. ``page``: its text, feeds, images and codes in order,
  with ``area``, ``position`` and ``direction="left_to_right"`` ignored.
* Left out, and listed in the receipt's notes: ``logo`` (NV graphics are the printer's own:
  the journal and its previews could not show them), ``sound``, ``layout``, ``vline-begin``,
  ``vline-end``, ``recovery``, ``reset``.
* Refused (``Unsupported``): ``command`` (raw bytes inside a document), page-mode ``line`` and
  ``rectangle``, any other page direction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from receiptd.document import Content, parse_content
from receiptd.document.limits import MAX_BLOCKS
from receiptd.epos import attrs
from receiptd.epos.errors import SchemaError, Unsupported
from receiptd.epos.lines import LineBuilder, Style
from receiptd.epos.raster import decode_data, to_image, to_png_bands
from receiptd.epos.request import EPOS_NS
from receiptd.epos.xmltree import Node
from receiptd.errors import InvalidDocument, TooLarge

ALIGNS = ("left", "center", "right")
FONTS = {"font_a": "a", "font_b": "b", "font_c": "b", "special_a": "a", "special_b": "b"}
BARCODES = {
    "upc_a": "UPC-A", "ean13": "EAN13", "jan13": "EAN13", "ean8": "EAN8", "jan8": "EAN8",
    "code39": "CODE39", "itf": "ITF", "codabar": "CODABAR", "code128": "CODE128",
    "code93": "CODE128", "gs1_128": "CODE128",
}
BARCODES_AS_TEXT = ("upc_e", "gs1_databar_omnidirectional", "gs1_databar_truncated",
                    "gs1_databar_limited", "gs1_databar_expanded")
SYMBOLS = ("pdf417_standard", "pdf417_truncated", "qrcode_model_1", "qrcode_model_2",
           "qrcode_micro", "maxicode_mode_2", "maxicode_mode_3", "maxicode_mode_4",
           "maxicode_mode_5", "maxicode_mode_6", "gs1_databar_stacked",
           "gs1_databar_stacked_omnidirectional", "gs1_databar_expanded_stacked", "aztec_code",
           "datamatrix_square", "datamatrix_rectangle_8", "datamatrix_rectangle_12",
           "datamatrix_rectangle_16")
QR_LEVELS = {"level_l": "L", "level_m": "M", "level_q": "Q", "level_h": "H"}
DOTS_PER_LINE = 30  # the default 1/6-inch line spacing at 180 dpi
IGNORED = ("sound", "layout", "vline-begin", "vline-end", "recovery", "reset")
TEXT_ATTRS = frozenset({"lang", "smooth", "align", "dw", "dh", "width", "height", "reverse",
                        "ul", "em", "color", "font", "linespc", "x", "rotate"})


@dataclass(frozen=True)
class Converted:
    """The content to journal, and what of the request it could not carry (for the log and
    the journal's ``source_detail``)."""

    content: Content
    notes: tuple[str, ...]


class _Converter:
    def __init__(self) -> None:
        self.style = Style()
        self.out = LineBuilder()
        self.notes: dict[str, None] = {}

    def note(self, text: str) -> None:
        if len(self.notes) < 20:
            self.notes[text] = None

    def elements(self, parent: Node, *, in_page: bool = False) -> None:
        for node in parent.children:
            if node.ns not in (EPOS_NS, ""):
                raise SchemaError(f"<{node.name}> is not in the ePOS-Print namespace")
            handler = getattr(self, "el_" + node.name.replace("-", "_"), None)
            if node.name in IGNORED:
                self.note(f"<{node.name}> ignored")
            elif node.name in ("area", "position", "direction", "line", "rectangle"):
                self.page_element(node, in_page)
            elif node.name == "page":
                if in_page:
                    raise SchemaError("<page> inside <page>")
                self.out.flush()
                self.elements(node, in_page=True)
                self.out.flush()
            elif handler is None:
                raise SchemaError(f"unknown element <{node.name}>")
            else:
                handler(node)

    def page_element(self, node: Node, in_page: bool) -> None:
        if not in_page:
            raise SchemaError(f"<{node.name}> belongs inside <page>")
        if node.name in ("line", "rectangle"):
            raise Unsupported(f"page-mode <{node.name}> is not supported")
        direction = node.attrs.get("dir", "left_to_right")
        if node.name == "direction" and direction != "left_to_right":
            raise Unsupported(f"page direction {direction!r} is not supported")
        if node.name != "direction":
            self.note(f"<page> <{node.name}> ignored: page content prints in order")

    # -- text ---------------------------------------------------------------------------

    def el_text(self, node: Node) -> None:
        if node.children:
            raise SchemaError("<text> holds characters only, no elements")
        for name in node.attrs.keys() - TEXT_ATTRS:
            self.note(f"<text {name}> ignored")
        s = self.style
        align = attrs.choice(node, "align", ALIGNS)
        dw, dh = attrs.boolean(node, "dw"), attrs.boolean(node, "dh")
        width = attrs.integer(node, "width", 1, 8)
        height = attrs.integer(node, "height", 1, 8)
        em, ul = attrs.boolean(node, "em"), attrs.boolean(node, "ul")
        font = attrs.choice(node, "font", FONTS)
        for name in ("smooth", "reverse", "rotate"):
            if attrs.boolean(node, name):
                self.note(f"<text {name}> ignored")
        attrs.integer(node, "linespc", 0, 255)
        attrs.choice(node, "color", ("none", "color_1", "color_2", "color_3", "color_4"))
        x = attrs.integer(node, "x", 0, 65535)
        s = replace(
            s,
            align=align or s.align,
            width=width or (2 if dw else 1 if dw is False else s.width),
            height=height or (2 if dh else 1 if dh is False else s.height),
            bold=s.bold if em is None else em,
            underline=s.underline if ul is None else ul,
            font=FONTS[font] if font else s.font,
        )
        self.style = s
        if x is not None:
            self.out.move_to(x, s)
        if node.text:
            self.out.write(node.text, s)

    def el_feed(self, node: Node) -> None:
        line = attrs.integer(node, "line", 0, 255)
        unit = attrs.integer(node, "unit", 0, 255)
        attrs.integer(node, "linespc", 0, 255)
        if attrs.choice(node, "pos", ("peeling", "cutting", "current_tof", "next_tof")):
            self.note("<feed pos> ignored")
            self.out.flush()
            return
        if line is None and unit is not None:
            line = round(unit / DOTS_PER_LINE)
        if line is None:
            line = 1
        printed = self.out.flush()
        self.out.feed(line - 1 if printed else line)

    # -- pictures and codes -------------------------------------------------------------

    def el_image(self, node: Node) -> None:
        width = attrs.integer(node, "width", 1, 65535)
        height = attrs.integer(node, "height", 1, 65535)
        if width is None or height is None:
            raise SchemaError("<image> needs width and height")
        mode = attrs.choice(node, "mode", ("mono", "gray16")) or "mono"
        attrs.choice(node, "color", ("none", "color_1", "color_2", "color_3", "color_4"))
        align = attrs.choice(node, "align", ALIGNS) or self.style.align
        image = to_image(decode_data(node.text), width, height, mode)
        for png in to_png_bands(image):
            self.out.add({"type": "image", "png": png, "align": align})

    def el_barcode(self, node: Node) -> None:
        kind = attrs.choice(node, "type", (*BARCODES, *BARCODES_AS_TEXT))
        if kind is None:
            raise SchemaError("<barcode> needs a type")
        hri = attrs.choice(node, "hri", ("none", "above", "below", "both")) or "none"
        attrs.choice(node, "font", FONTS)
        width = attrs.integer(node, "width", 2, 6)
        height = attrs.integer(node, "height", 1, 255)
        data = attrs.unescape(node.text, "barcode")
        if kind in BARCODES_AS_TEXT:
            self.note(f"<barcode type={kind}> printed as text")
            self.out.flush()
            self.out.write(data, self.style)
            self.out.flush()
            return
        if BARCODES[kind] == "CODE128":
            data = _code128_data(data)
        if kind in ("code93", "gs1_128"):
            self.note(f"<barcode type={kind}> printed as CODE128")
        block: dict[str, Any] = {"type": "barcode", "data": data, "symbology": BARCODES[kind],
                                 "hri": hri, "align": self.style.align}
        if width is not None:
            block["width"] = width
        if height is not None:
            block["height"] = height
        self.out.add(block)

    def el_symbol(self, node: Node) -> None:
        kind = attrs.choice(node, "type", SYMBOLS)
        if kind is None:
            raise SchemaError("<symbol> needs a type")
        level = attrs.choice(node, "level", (*QR_LEVELS, "default", *(
            f"level_{n}" for n in range(9))))
        width = attrs.integer(node, "width", 1, 255)
        attrs.integer(node, "height", 0, 255)
        attrs.integer(node, "size", 0, 65535)
        if not kind.startswith("qrcode"):
            self.note(f"<symbol type={kind}> printed as a QR code")
        self.out.add({"type": "qr", "data": attrs.unescape(node.text, "symbol"),
                      "size": min(max(width or 3, 1), 16),
                      "ec": QR_LEVELS.get(level or "", "M"), "align": self.style.align})

    def el_hline(self, node: Node) -> None:
        attrs.integer(node, "x1", 0, 65535)
        attrs.integer(node, "x2", 0, 65535)
        style = attrs.choice(node, "style", ("thin", "medium", "thick", "thin_double",
                                             "medium_double", "thick_double")) or "thin"
        self.out.add({"type": "rule", "char": "=" if style.endswith("double") else "-"})

    # -- the paper and the drawer -------------------------------------------------------

    def el_cut(self, node: Node) -> None:
        attrs.choice(node, "type", ("feed", "no_feed", "reserve"))
        self.out.add({"type": "cut"})

    def el_pulse(self, node: Node) -> None:
        drawer = attrs.choice(node, "drawer", ("drawer_1", "drawer_2")) or "drawer_1"
        attrs.choice(node, "time", ("pulse_100", "pulse_200", "pulse_300", "pulse_400",
                                    "pulse_500"))
        self.out.add({"type": "drawer", "pin": 2 if drawer == "drawer_1" else 5})

    def el_logo(self, node: Node) -> None:
        attrs.integer(node, "key1", 0, 255)
        attrs.integer(node, "key2", 0, 255)
        self.out.flush()
        self.note("<logo> not printed: NV logos are not in the journal")

    def el_command(self, node: Node) -> None:
        raise Unsupported("<command> (raw ESC/POS inside ePOS-Print) is not supported")


def _code128_data(data: str) -> str:
    """ESC/POS CODE128 data starts with its code set (``{A``, ``{B``, ``{C``); set C carries
    two digits a byte. The document model takes the plain characters."""
    if data[:2] in ("{A", "{B"):
        data = data[2:]
    elif data[:2] == "{C":
        data = "".join(f"{ord(c):02d}" if ord(c) < 100 else c for c in data[2:])
    if "{" in data.replace("{{", ""):
        raise Unsupported("CODE128 data that switches code sets or uses FNC characters is "
                          "not supported")
    return data.replace("{{", "{")


def convert(document: Node) -> Converted:
    """The ``<epos-print>`` element as content; ``SchemaError`` (or ``Unsupported``) if it
    cannot be read, ``TooLarge`` past the document model's limits."""
    converter = _Converter()
    converter.elements(document)
    blocks = converter.out.finish()
    if not blocks:
        raise SchemaError("the document has nothing to print")
    if len(blocks) > MAX_BLOCKS:
        raise TooLarge(f"the document makes {len(blocks)} blocks; the limit is {MAX_BLOCKS}")
    try:
        content = parse_content({"document": {"blocks": blocks}})
    except InvalidDocument as exc:
        raise SchemaError(exc.message) from None
    return Converted(content, tuple(converter.notes))
