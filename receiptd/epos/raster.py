"""``<image>`` data, ePOS-Print's raster format, made into the PNG the document model prints.

``mode="mono"`` (the default) is 1 bit per dot, most significant bit first, each row padded to
a whole byte, a set bit printed black: the layout of ESC/POS ``GS v 0``, and what Odoo's POS
sends (its receipt drawn on a canvas, dithered, packed 8 dots a byte, base64). ``mode="gray16"``
is 4 bits per dot, two dots a byte, high nibble first; 15 is taken as the darkest tone and the
tones are dithered to black and white, since receiptd prints one-bit rasters.

An image taller than the document model's limit is cut into bands printed one under the other,
so a long receipt drawn as one picture still prints whole.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import TYPE_CHECKING

from receiptd.document.limits import MAX_IMAGE_HEIGHT, MAX_IMAGE_WIDTH, MAX_TOTAL_IMAGE_PIXELS
from receiptd.epos.errors import SchemaError

if TYPE_CHECKING:  # PIL is imported by the first ePOS image, not by the daemon's start
    from PIL import Image


def decode_data(text: str) -> bytes:
    """The base64 content of an ``<image>`` (whitespace and line breaks allowed)."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SchemaError("<image> content is not base64") from None


def to_image(data: bytes, width: int, height: int, mode: str) -> Image.Image:
    """The raster as a one-bit image (PIL mode ``1``); ``SchemaError`` if the data does not
    hold exactly ``width`` × ``height`` dots in ``mode``."""
    if not 1 <= width <= MAX_IMAGE_WIDTH:
        raise SchemaError(f"<image> width must be 1..{MAX_IMAGE_WIDTH} dots, not {width}")
    if height < 1 or width * height > MAX_TOTAL_IMAGE_PIXELS:
        raise SchemaError(f"<image> of {width}x{height} dots is over the limit of "
                          f"{MAX_TOTAL_IMAGE_PIXELS} dots")
    per_row = (width + 7) // 8 if mode == "mono" else (width + 1) // 2
    if len(data) != per_row * height:
        raise SchemaError(f"<image> {mode} data of {width}x{height} dots must be "
                          f"{per_row * height} bytes, not {len(data)}")
    from PIL import Image, ImageOps

    if mode == "mono":
        # Raw mode "1;I": one bit per dot, inverted (PIL's 1 is white, ePOS's 1 is black).
        return Image.frombytes("1", (width, height), data, "raw", "1;I")
    gray = Image.frombytes("L", (width, height), data, "raw", "L;4")  # 0..15 → 0..255
    return ImageOps.invert(gray).convert("1")  # 15 = darkest; Floyd–Steinberg dithered


def to_png_bands(image: Image.Image) -> list[str]:
    """Base64 PNGs of the image, in bands of at most ``MAX_IMAGE_HEIGHT`` rows."""
    bands = []
    for top in range(0, image.height, MAX_IMAGE_HEIGHT):
        band = image.crop((0, top, image.width, min(image.height, top + MAX_IMAGE_HEIGHT)))
        out = io.BytesIO()
        band.save(out, format="PNG", optimize=False)
        bands.append(base64.b64encode(out.getvalue()).decode("ascii"))
    return bands
