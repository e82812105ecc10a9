"""The blocks a document is made of: text, rows, rules, barcodes, QR codes, images, feeds,
cuts and the cash drawer.

These check a block's shape (types, ranges, sizes). Whether it can be printed on a given
printer (barcode data valid for its symbology and narrow enough for the paper) is decided by
``receiptd.render``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, PrivateAttr, StrictBool, StrictInt, field_validator, model_validator

from receiptd.document.base import Model
from receiptd.document.images import PngHeader, decode_pixels, read_png
from receiptd.document.limits import (
    MAX_BARCODE_CHARS,
    MAX_FIELD_CHARS,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_HEIGHT,
    MAX_IMAGE_WIDTH,
    MAX_QR_CHARS,
)

if TYPE_CHECKING:  # PIL is imported by the first image decoded, not by the daemon's start
    from PIL import Image

SIZE_NAMES: dict[str, tuple[int, int]] = {
    "normal": (1, 1),
    "double-width": (2, 1),
    "double-height": (1, 2),
    "double": (2, 2),
    "triple": (3, 3),
    "quadruple": (4, 4),
}

# C0 except TAB/LF/CR, DEL: never allowed inside payloads that go to the printer unchanged
# (a DLE in QR data could form a real-time command such as DLE DC4 = power off).
_PAYLOAD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


Align = Literal["left", "center", "right"]
FieldText = Annotated[str, Field(max_length=MAX_FIELD_CHARS)]


class TextBlock(Model):
    """A paragraph of text. Lines wrap at word boundaries to the paper width."""

    type: Literal["text"] = "text"
    text: FieldText = Field(
        description="The text. LF starts a new line; other control characters are printed "
        "as '?' (TAB as a space), never sent as printer commands.",
        examples=["Thank you for your visit!"],
    )
    align: Align = Field(default="left", description="Horizontal alignment.")
    bold: StrictBool = Field(default=False, description="Emphasized printing.")
    underline: Literal[0, 1, 2] = Field(default=0, description="Underline: 0 off, 1 thin, 2 thick.")
    size: (
        tuple[Annotated[StrictInt, Field(ge=1, le=8)], Annotated[StrictInt, Field(ge=1, le=8)]]
        | Literal["normal", "double-width", "double-height", "double", "triple", "quadruple"]
    ) = Field(
        default="normal",
        description="Character size as [width, height] multipliers (1..8) or a name: "
        + ", ".join(f"{k} = {list(v)}" for k, v in SIZE_NAMES.items())
        + ".",
        examples=[[2, 2], "double-height"],
    )
    font: Literal["a", "b"] = Field(default="a", description="Font A (normal) or B (condensed).")

    @property
    def scale(self) -> tuple[int, int]:
        """(width, height) multipliers."""
        return SIZE_NAMES[self.size] if isinstance(self.size, str) else self.size


class RowBlock(Model):
    """Two columns on one line: ``left`` flush left, ``right`` flush right, padded to the
    paper width. A left text too long for the line wraps; the right text stays on the
    first line."""

    type: Literal["row"] = "row"
    left: FieldText = Field(default="", description="Left column text.", examples=["Espresso x2"])
    right: FieldText = Field(default="", description="Right column text.", examples=["5.80"])
    bold: StrictBool = Field(default=False, description="Emphasized printing.")


class RuleBlock(Model):
    """A full-width line of one repeated character."""

    type: Literal["rule"] = "rule"
    char: str = Field(
        default="-", min_length=1, max_length=1, description="The character to repeat."
    )

    @field_validator("char")
    @classmethod
    def _printable_char(cls, value: str) -> str:
        if unicodedata.category(value)[0] in "CZ" and value != " ":
            raise ValueError("char must be a visible character")
        return value


Symbology = Literal["CODE128", "EAN13", "EAN8", "UPC-A", "CODE39", "ITF", "CODABAR"]


class BarcodeBlock(Model):
    """A one-dimensional barcode, printed by the printer (or as an image where it has no
    barcode command). Data that its symbology cannot carry is refused at submission."""

    type: Literal["barcode"] = "barcode"
    data: str = Field(
        min_length=1,
        max_length=MAX_BARCODE_CHARS,
        pattern=r"^[\x20-\x7e]+$",
        description="The payload (printable ASCII). EAN/UPC: digits, with or without the "
        "check digit (a given check digit must be right).",
        examples=["4006381333931"],
    )
    symbology: Symbology = Field(default="CODE128", description="Barcode type.")
    height: StrictInt = Field(default=80, ge=1, le=255, description="Bar height in printer dots.")
    width: StrictInt = Field(
        default=2, ge=2, le=6, description="Module (narrow bar) width in dots."
    )
    hri: Literal["none", "above", "below", "both"] = Field(
        default="below", description="Where the human-readable digits go."
    )
    align: Align = Field(default="center", description="Horizontal alignment.")


class QrBlock(Model):
    """A QR code (model 2)."""

    type: Literal["qr"] = "qr"
    data: str = Field(
        min_length=1,
        max_length=MAX_QR_CHARS,
        description="The payload, encoded as UTF-8. TAB, LF and CR are allowed; other "
        "control characters are not.",
        examples=["https://example.com/r/8f3a"],
    )
    size: StrictInt = Field(default=6, ge=1, le=16, description="Module size in printer dots.")
    ec: Literal["L", "M", "Q", "H"] = Field(default="M", description="Error correction level.")
    align: Align = Field(default="center", description="Horizontal alignment.")

    @field_validator("data")
    @classmethod
    def _no_control(cls, value: str) -> str:
        if _PAYLOAD_CONTROL.search(value):
            raise ValueError("QR data must not contain control characters (except TAB/LF/CR)")
        return value


class ImageBlock(Model):
    """A PNG image, printed as a 1-bit raster, scaled down to the paper width if wider.

    Validation checks the PNG's header only (its declared size within the limits); the pixels
    are decoded on first use of ``image``, when the receipt is rendered in a worker thread."""

    type: Literal["image"] = "image"
    png: str = Field(
        max_length=(MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096,
        description=f"The PNG file, base64. At most {MAX_IMAGE_WIDTH}x{MAX_IMAGE_HEIGHT} "
        f"pixels and {MAX_IMAGE_BYTES} bytes.",
    )
    align: Align = Field(default="center", description="Horizontal alignment.")
    _header: PngHeader | None = PrivateAttr(default=None)
    _image: Image.Image | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> ImageBlock:
        self._header = read_png(self.png)
        return self

    @property
    def header(self) -> PngHeader:
        """The size the PNG declares (checked at validation; nothing decoded)."""
        if self._header is None:
            self._header = read_png(self.png)
        return self._header

    @property
    def pixels(self) -> int:
        """Declared width × height, what the per-receipt pixel limit counts."""
        return self.header.pixels

    @property
    def image(self) -> Image.Image:
        """The decoded image: decoded on first use, then kept. Blocking (a worker thread's
        job); ``InvalidDocument`` if the image data is damaged."""
        if self._image is None:
            self._image = decode_pixels(self.header)
        return self._image


class FeedBlock(Model):
    """Feed blank lines."""

    type: Literal["feed"] = "feed"
    lines: StrictInt = Field(default=1, ge=1, le=255, description="Number of lines.")


class CutBlock(Model):
    """Feed past the cutter and cut (on printers without a cutter: feed to the tear bar)."""

    type: Literal["cut"] = "cut"
    partial: StrictBool = Field(default=False, description="Leave a hinge uncut.")


class DrawerBlock(Model):
    """Open the cash drawer."""

    type: Literal["drawer"] = "drawer"
    pin: Literal[2, 5] = Field(default=2, description="Drawer kick-out connector pin.")


Block = Annotated[
    TextBlock | RowBlock | RuleBlock | BarcodeBlock | QrBlock | ImageBlock | FeedBlock
    | CutBlock | DrawerBlock,
    Field(discriminator="type"),
]
