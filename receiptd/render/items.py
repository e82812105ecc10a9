"""What goes on paper, item by item: the layout's output, shared by the ESC/POS writer, the
previews and the paper estimates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

from receiptd.render.codes import qr_matrix

__all__ = [
    "CUT_FEED_LINES",
    "DEFAULT_STYLE",
    "Alignment",
    "BarcodeItem",
    "CutItem",
    "DrawerItem",
    "FeedItem",
    "ImageItem",
    "Item",
    "QrItem",
    "Style",
    "TextLine",
]

Alignment = Literal["left", "center", "right"]
CUT_FEED_LINES = 6  # python-escpos cut(): ESC d 6 before GS V; also the feed without a cutter


@dataclass(frozen=True, slots=True)
class Style:
    """A text line's print mode; ``DEFAULT_STYLE`` is the printer's state after the prologue
    (and where every section of a rendering ends)."""

    align: Alignment = "left"
    bold: bool = False
    underline: int = 0
    font: Literal["a", "b"] = "a"
    size: tuple[int, int] = (1, 1)


DEFAULT_STYLE = Style()


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str  # printable: in the printer's character sets, or in a font if ``raster``
    style: Style
    raster: bool = False  # sent as an image: the printer cannot print all of ``text``


@dataclass(frozen=True, slots=True)
class BarcodeItem:
    symbology: str
    data: str  # what was submitted (validated)
    hri_text: str  # the human-readable interpretation (with check digit)
    printer_data: str  # what the barcode command carries
    modules: str  # the bar pattern in dots, "1" = bar
    height: int
    width: int
    hri: str
    align: Alignment


@dataclass(frozen=True, slots=True)
class QrItem:
    data: str
    ec: str
    size: int  # module size in dots after fitting to the paper
    modules: int  # modules across the symbol
    align: Alignment

    @property
    def matrix(self) -> tuple[tuple[bool, ...], ...]:
        return qr_matrix(self.data, self.ec)


@dataclass(frozen=True, slots=True)
class ImageItem:
    bitmap: Image.Image  # mode "1", 1 = black dot, at most width_dots wide
    align: Alignment


@dataclass(frozen=True, slots=True)
class FeedItem:
    lines: int


@dataclass(frozen=True, slots=True)
class CutItem:
    partial: bool


@dataclass(frozen=True, slots=True)
class DrawerItem:
    pin: int


Item = TextLine | BarcodeItem | QrItem | ImageItem | FeedItem | CutItem | DrawerItem
