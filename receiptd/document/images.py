"""PNG images in a submission: decoded once, at validation, within the pixel limits.

The size is read from the PNG header and checked before any pixel is decoded, so a small file
that claims a huge image is refused without the memory it would take.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image
from pydantic_core import PydanticCustomError

from receiptd.document.base import b64decode
from receiptd.document.limits import MAX_IMAGE_BYTES, MAX_IMAGE_HEIGHT, MAX_IMAGE_WIDTH, too_large

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(value: str) -> Image.Image:
    """Decode and check a base64 PNG; ``ValueError``/``PydanticCustomError`` if it is not one
    or exceeds the limits. The pixel limits are checked from the header, before decoding."""
    data = b64decode(value, "png")
    if len(data) > MAX_IMAGE_BYTES:
        raise too_large("image is larger than {limit} bytes", limit=MAX_IMAGE_BYTES)
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("png is not a PNG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG"])
            width, height = image.size
            if width > MAX_IMAGE_WIDTH or height > MAX_IMAGE_HEIGHT:
                raise too_large(
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
