"""Receipt content → ESC/POS bytes for one printer profile: document → lines → bytes.

One module a step, each using only those above it:

* ``profiles`` — the printer models; ``escpos`` — the one door to python-escpos;
* ``text`` — text cleaned of control characters, made printable on this printer (its code
  pages, its double-byte set, else an installed font: ``glyphs``), measured and wrapped;
* ``codes`` — barcodes and QR codes checked and fitted to the paper;
* ``items`` — what goes on paper: text lines, codes, images, feeds, cuts, drawer kicks;
* ``raster`` — printer dots for what is sent as an image;
* ``layout`` — a document as items: the one layout behind the bytes, the previews
  (``preview``) and the paper estimates (``paper``);
* ``writer`` — items → ESC/POS bytes, tracking the printer's style and code page;
* ``sections`` — a rendering: prologue + marker section + body; ``with_marker``
  marks a journaled rendering again without the document; ``markers`` —
  the words of a copy's or a reprint's marker.

A profile's ``dialect`` (``escpos``, the default; ``star``; ``star_raster``) picks the
command set: ``star`` writes Star Line Mode and ``star_raster`` raster lines only
(``star``), framed by ``star_sections`` and measured by ``star_paper``.
"""

from receiptd.render.items import (
    CUT_FEED_LINES,
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
from receiptd.render.layout import layout, marker_lines
from receiptd.render.markers import copy_marker, interrupted_marker
from receiptd.render.paper import marker_paper_mm, paper_length_mm
from receiptd.render.profiles import DIALECTS, with_dialect
from receiptd.render.raster import CHAR_DOTS, defang, line_bitmap, qr_bitmap, raster, to_bitmap
from receiptd.render.sections import (
    MARKER_DELIMITER,
    marker_section,
    prologue,
    render,
    render_body,
    render_measured,
    split_marker,
    with_marker,
)
from receiptd.render.text import clean_text, text_width, wrap

__all__ = [
    "CHAR_DOTS",
    "CUT_FEED_LINES",
    "DIALECTS",
    "MARKER_DELIMITER",
    "BarcodeItem",
    "CutItem",
    "DrawerItem",
    "FeedItem",
    "ImageItem",
    "Item",
    "QrItem",
    "Style",
    "TextLine",
    "clean_text",
    "copy_marker",
    "defang",
    "interrupted_marker",
    "layout",
    "line_bitmap",
    "marker_lines",
    "marker_paper_mm",
    "marker_section",
    "paper_length_mm",
    "prologue",
    "qr_bitmap",
    "raster",
    "render",
    "render_body",
    "render_measured",
    "split_marker",
    "text_width",
    "to_bitmap",
    "with_dialect",
    "with_marker",
    "wrap",
]
