"""How much one submission may hold.

A broken limit is a pydantic error of type ``too_large`` (made by ``too_large``), so that
``parse_submission``/``parse_content`` raise ``TooLarge`` for it rather than
``InvalidDocument``; the API answers 413 ``too_large`` for it, 422 for the rest.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

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


def too_large(message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("too_large", message, ctx or None)
