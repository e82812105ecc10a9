"""The receipt document: what a POS app may submit, and its limits.

A submission carries exactly one of ``document`` (a list of blocks), ``text`` (plain text) or
``raw`` (base64 ESC/POS, checked against an allow-list elsewhere: ``receiptd.rawfilter``).

These models check the *shape* of a receipt (types, ranges, sizes, that an image is a PNG
within the pixel limits). Whether it can be printed on a given printer (barcode data valid
for its symbology and narrow enough for the paper) is decided by ``receiptd.render``, which
the API runs once at submission.

Every model forbids unknown fields. A violated limit is a pydantic ``ValidationError``
(FastAPI answers 422); limit errors carry the error type ``too_large``. Callers outside
FastAPI use ``parse_submission``/``parse_content``, which raise ``InvalidDocument`` or
``TooLarge``.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import unicodedata
import warnings
from typing import Annotated, Any, Literal

from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from receiptd.errors import InvalidDocument, TooLarge

MAX_BLOCKS = 500
MAX_FIELD_CHARS = 4096
MAX_TOTAL_TEXT_CHARS = 65_536
MAX_BARCODE_CHARS = 255
MAX_QR_CHARS = 4096
MAX_IMAGE_WIDTH = 2048
MAX_IMAGE_HEIGHT = 4096
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_TOTAL_IMAGE_PIXELS = 2048 * 4096
MAX_RAW_BYTES = 256 * 1024
MAX_KEY_CHARS = 128

SIZE_NAMES: dict[str, tuple[int, int]] = {
    "normal": (1, 1),
    "double-width": (2, 1),
    "double-height": (1, 2),
    "double": (2, 2),
    "triple": (3, 3),
    "quadruple": (4, 4),
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# C0 except TAB/LF/CR, DEL: never allowed inside payloads that go to the printer unchanged
# (a DLE in QR data could form a real-time command such as DLE DC4 = power off).
_PAYLOAD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _too_large(message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("too_large", message, ctx or None)


def _b64decode(value: str, what: str) -> bytes:
    compact = "".join(value.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64") from exc


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Align = Literal["left", "center", "right"]
FieldText = Annotated[str, Field(max_length=MAX_FIELD_CHARS)]


class TextBlock(_Model):
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


class RowBlock(_Model):
    """Two columns on one line: ``left`` flush left, ``right`` flush right, padded to the
    paper width. A left text too long for the line wraps; the right text stays on the
    first line."""

    type: Literal["row"] = "row"
    left: FieldText = Field(default="", description="Left column text.", examples=["Espresso x2"])
    right: FieldText = Field(default="", description="Right column text.", examples=["5.80"])
    bold: StrictBool = Field(default=False, description="Emphasized printing.")


class RuleBlock(_Model):
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


class BarcodeBlock(_Model):
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


class QrBlock(_Model):
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


class ImageBlock(_Model):
    """A PNG image, printed as a 1-bit raster, scaled down to the paper width if wider."""

    type: Literal["image"] = "image"
    png: str = Field(
        max_length=(MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096,
        description=f"The PNG file, base64. At most {MAX_IMAGE_WIDTH}x{MAX_IMAGE_HEIGHT} "
        f"pixels and {MAX_IMAGE_BYTES} bytes.",
    )
    align: Align = Field(default="center", description="Horizontal alignment.")
    _image: Image.Image | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _decode(self) -> ImageBlock:
        self._image = decode_png(self.png)
        return self

    @property
    def image(self) -> Image.Image:
        """The decoded image (decoded once, at validation)."""
        if self._image is None:
            self._image = decode_png(self.png)
        return self._image


class FeedBlock(_Model):
    """Feed blank lines."""

    type: Literal["feed"] = "feed"
    lines: StrictInt = Field(default=1, ge=1, le=255, description="Number of lines.")


class CutBlock(_Model):
    """Feed past the cutter and cut (on printers without a cutter: feed to the tear bar)."""

    type: Literal["cut"] = "cut"
    partial: StrictBool = Field(default=False, description="Leave a hinge uncut.")


class DrawerBlock(_Model):
    """Open the cash drawer."""

    type: Literal["drawer"] = "drawer"
    pin: Literal[2, 5] = Field(default=2, description="Drawer kick-out connector pin.")


Block = Annotated[
    TextBlock | RowBlock | RuleBlock | BarcodeBlock | QrBlock | ImageBlock | FeedBlock
    | CutBlock | DrawerBlock,
    Field(discriminator="type"),
]


def decode_png(value: str) -> Image.Image:
    """Decode and check a base64 PNG; ``ValueError``/``PydanticCustomError`` if it is not one
    or exceeds the limits. The pixel limits are checked from the header, before decoding."""
    data = _b64decode(value, "png")
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_large("image is larger than {limit} bytes", limit=MAX_IMAGE_BYTES)
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("png is not a PNG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG"])
            width, height = image.size
            if width > MAX_IMAGE_WIDTH or height > MAX_IMAGE_HEIGHT:
                raise _too_large(
                    "image is {width}x{height} pixels; the limit is {max_w}x{max_h}",
                    width=width, height=height, max_w=MAX_IMAGE_WIDTH, max_h=MAX_IMAGE_HEIGHT,
                )
            if width < 1 or height < 1:
                raise ValueError("png has no pixels")
            image.load()
    except PydanticCustomError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ValueError(f"png is not a readable PNG image: {exc}") from exc
    return image


def _block_text(block: Any) -> int:
    if isinstance(block, TextBlock):
        return len(block.text)
    if isinstance(block, RowBlock):
        return len(block.left) + len(block.right)
    if isinstance(block, BarcodeBlock | QrBlock):
        return len(block.data)
    return 0


class Document(_Model):
    """A receipt as a list of blocks, printed top to bottom."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "blocks": [
                        {"type": "text", "text": "CAFE ROMA", "align": "center",
                         "size": [2, 2], "bold": True},
                        {"type": "rule"},
                        {"type": "row", "left": "Espresso x2", "right": "5.80"},
                        {"type": "row", "left": "TOTAL", "right": "5.80", "bold": True},
                        {"type": "qr", "data": "https://example.com/r/8f3a"},
                        {"type": "cut"},
                    ]
                }
            ]
        },
    )

    blocks: list[Block] = Field(
        min_length=1,
        max_length=MAX_BLOCKS,
        description=f"The blocks, at most {MAX_BLOCKS}.",
    )

    @model_validator(mode="after")
    def _totals(self) -> Document:
        total = sum(_block_text(b) for b in self.blocks)
        if total > MAX_TOTAL_TEXT_CHARS:
            raise _too_large(
                "document has {total} characters of text; the limit is {limit}",
                total=total, limit=MAX_TOTAL_TEXT_CHARS,
            )
        pixels = sum(
            b.image.width * b.image.height for b in self.blocks if isinstance(b, ImageBlock)
        )
        if pixels > MAX_TOTAL_IMAGE_PIXELS:
            raise _too_large(
                "document has {pixels} image pixels; the limit is {limit}",
                pixels=pixels, limit=MAX_TOTAL_IMAGE_PIXELS,
            )
        return self


ContentKind = Literal["document", "text", "raw"]


class Content(_Model):
    """What to print: exactly one of ``document``, ``text`` or ``raw``."""

    # Say "exactly one" in the JSON schema too, so clients (and fuzzers) know it.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"oneOf": [
        {"required": ["document"]}, {"required": ["text"]}, {"required": ["raw"]}]})

    document: Document | None = Field(default=None, description="A structured receipt.")
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TOTAL_TEXT_CHARS,
        description="Plain text, printed left-aligned, wrapped to the paper width and cut. "
        "Control characters other than LF are printed as '?'.",
        examples=["Order 42\nCoffee   3.20\n"],
    )
    raw: str | None = Field(
        default=None,
        max_length=(MAX_RAW_BYTES + 2) // 3 * 4 + 4096,
        description="ESC/POS bytes, base64. Commands outside an allow-list (NV memory, "
        "memory switches, power off, real-time command control) are refused.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Content:
        given = [k for k in ("document", "text", "raw") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "exactly one of 'document', 'text' or 'raw' is required"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.raw is not None:
            data = _b64decode(self.raw, "raw")
            if not data:
                raise ValueError("raw is empty")
            if len(data) > MAX_RAW_BYTES:
                raise _too_large("raw is larger than {limit} bytes", limit=MAX_RAW_BYTES)
        return self

    @property
    def kind(self) -> ContentKind:
        if self.document is not None:
            return "document"
        return "text" if self.text is not None else "raw"

    def raw_bytes(self) -> bytes:
        """The decoded ``raw`` bytes (not yet allow-list checked). ``InvalidDocument`` if this
        content is not raw."""
        if self.raw is None:
            raise InvalidDocument(f"content is {self.kind}, not raw")
        return _b64decode(self.raw, "raw")


def _printable_key(value: str | None, what: str) -> str | None:
    if value is not None and any(unicodedata.category(c)[0] == "C" for c in value):
        raise ValueError(f"{what} must not contain control or format characters")
    return value


class Submission(Content):
    """A receipt submitted for printing."""

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_KEY_CHARS,
        pattern=r"^[\x20-\x7e]+$",
        description="Client-chosen key: a repeated submission with the same key returns the "
        "existing receipt and prints nothing.",
        examples=["pos-3:order-1842:receipt"],
    )
    order_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description="The POS order this receipt belongs to (searchable).",
        examples=["1842"],
    )

    @field_validator("order_ref")
    @classmethod
    def _order_ref_printable(cls, value: str | None) -> str | None:
        return _printable_key(value, "order_ref")

    def content(self) -> Content:
        """The printable part (what the journal stores and reprints)."""
        return content_of(self)


def _raise_from(exc: ValidationError) -> None:
    errors = exc.errors(include_url=False)
    lines = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors
    )
    if any(e["type"] == "too_large" for e in errors):
        raise TooLarge(lines) from exc
    raise InvalidDocument(lines) from exc


def parse_content(data: Any) -> Content:
    """Validate a JSON-like object as ``Content``; ``InvalidDocument``/``TooLarge`` if bad."""
    try:
        return Content.model_validate(data)
    except ValidationError as exc:
        _raise_from(exc)
        raise  # pragma: no cover


def parse_submission(data: Any) -> Submission:
    """Validate a JSON-like object as ``Submission``; ``InvalidDocument``/``TooLarge``."""
    try:
        return Submission.model_validate(data)
    except ValidationError as exc:
        _raise_from(exc)
        raise  # pragma: no cover


def content_of(submission: Submission) -> Content:
    """The printable part of a submission (what the journal stores and reprints)."""
    return Content.model_validate(
        submission.model_dump(include={"document", "text", "raw"}, exclude_none=True)
    )
