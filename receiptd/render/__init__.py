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

The package imports its modules on first use (``render``, ``copy_marker``, ...): a daemon that
has not printed yet has not loaded PIL, the code generators or python-escpos at all (profiles
read python-escpos's printer database as a file: ``capabilities``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each name this package offers → the module that defines it (imported on first use).
_WHERE: dict[str, str] = {
    "CUT_FEED_LINES": "receiptd.render.items",
    "BarcodeItem": "receiptd.render.items",
    "CutItem": "receiptd.render.items",
    "DrawerItem": "receiptd.render.items",
    "FeedItem": "receiptd.render.items",
    "ImageItem": "receiptd.render.items",
    "Item": "receiptd.render.items",
    "QrItem": "receiptd.render.items",
    "Style": "receiptd.render.items",
    "TextLine": "receiptd.render.items",
    "layout": "receiptd.render.layout",
    "marker_lines": "receiptd.render.layout",
    "copy_marker": "receiptd.render.markers",
    "interrupted_marker": "receiptd.render.markers",
    "marker_paper_mm": "receiptd.render.paper",
    "paper_length_mm": "receiptd.render.paper",
    "DIALECTS": "receiptd.render.profiles",
    "with_dialect": "receiptd.render.profiles",
    "CHAR_DOTS": "receiptd.render.raster",
    "defang": "receiptd.render.raster",
    "line_bitmap": "receiptd.render.raster",
    "qr_bitmap": "receiptd.render.raster",
    "raster": "receiptd.render.raster",
    "to_bitmap": "receiptd.render.raster",
    "MARKER_DELIMITER": "receiptd.render.sections",
    "marker_section": "receiptd.render.sections",
    "prologue": "receiptd.render.sections",
    "render": "receiptd.render.sections",
    "render_body": "receiptd.render.sections",
    "render_measured": "receiptd.render.sections",
    "split_marker": "receiptd.render.sections",
    "with_marker": "receiptd.render.sections",
    "clean_text": "receiptd.render.text",
    "text_width": "receiptd.render.text",
    "wrap": "receiptd.render.text",
}


class _Package(types.ModuleType):
    """``layout`` and ``raster`` are functions of this package and names of its submodules.
    Importing a submodule sets it as the package's attribute; for those two names the
    function is kept instead, as it always was when the package imported them eagerly."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:  # a submodule (``receiptd.render.glyphs``) or a real miss
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
