"""PNG images in a submission: checked from their header at validation, decoded when printed.

Validation reads only the PNG's chunk structure and its ``IHDR`` (width, height, bit depth,
colour type): a few bytes, whatever the image claims to be. The per-image and per-receipt
pixel limits are enforced from those declared sizes, so a small file that claims a huge image,
or five hundred small files that claim one each, are refused before a single pixel is decoded.
The pixels are decoded later, when the receipt is rendered: in the API's worker threads, never
on the event loop, at most ``DECODE_AT_ONCE`` at a time, and only from the chunks a printed
image needs (text and colour-profile chunks can be compressed bombs of their own).
"""

from __future__ import annotations

import io
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from receiptd.document.base import b64decode
from receiptd.document.limits import MAX_IMAGE_BYTES, MAX_IMAGE_HEIGHT, MAX_IMAGE_WIDTH, too_large
from receiptd.errors import InvalidDocument

if TYPE_CHECKING:  # PIL is imported by the first image decoded, not by the daemon's start
    from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The chunks a printed image is made of; everything else is left out before decoding.
_KEEP = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
#: Valid (colour type: bit depths) pairs of the PNG specification.
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
#: Decoding costs memory in proportion to the pixels (up to the per-receipt limit each):
#: bound how many run at once, whatever the number of clients.
DECODE_AT_ONCE = 2
_DECODING = threading.BoundedSemaphore(DECODE_AT_ONCE)


@dataclass(frozen=True)
class PngHeader:
    """What a PNG declares about itself, and its printable chunks."""

    width: int
    height: int
    stream: bytes  # signature + IHDR, PLTE, tRNS, IDAT, IEND: what the decoder gets

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_png(value: str) -> PngHeader:
    """Check a base64 PNG from its header and chunk structure, without decoding a pixel.

    ``ValueError`` if it is not a PNG, ``PydanticCustomError`` (``too_large``) if its bytes or
    its declared size exceed the limits."""
    data = b64decode(value, "png")
    if len(data) > MAX_IMAGE_BYTES:
        raise too_large("image is larger than {limit} bytes", limit=MAX_IMAGE_BYTES)
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("png is not a PNG image")
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise ValueError("png is not a readable PNG image: it does not start with IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if width > MAX_IMAGE_WIDTH or height > MAX_IMAGE_HEIGHT:
        raise too_large(
            "image is {width}x{height} pixels; the limit is {max_w}x{max_h}",
            width=width, height=height, max_w=MAX_IMAGE_WIDTH, max_h=MAX_IMAGE_HEIGHT,
        )
    if width < 1 or height < 1:
        raise ValueError("png has no pixels")
    if depth not in _DEPTHS.get(colour, ()) or interlace > 1:
        raise ValueError(f"png is not a readable PNG image: colour type {colour} with bit "
                         f"depth {depth} does not exist")
    names = [name for name, _ in chunks]
    if b"IDAT" not in names or names[-1] != b"IEND":
        raise ValueError("png is not a readable PNG image: no image data or no IEND")
    kept = b"".join(_chunk(name, body) for name, body in chunks if name in _KEEP)
    return PngHeader(width, height, _PNG_SIGNATURE + kept)


def decode_pixels(header: PngHeader) -> Image.Image:
    """The pixels of a PNG already checked by ``read_png``. Blocking, and bounded: call it
    from a worker thread. ``InvalidDocument`` if the image data is damaged."""
    from PIL import Image

    with _DECODING:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(header.stream), formats=["PNG"])
                if image.size != (header.width, header.height):  # pragma: no cover
                    raise ValueError("the decoder disagrees with IHDR")
                image.load()
        except (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            raise InvalidDocument(f"png is not a readable PNG image: {exc}") from exc
    return image


def decode_png(value: str) -> Image.Image:
    """``read_png`` then ``decode_pixels``: check a base64 PNG and decode it (blocking)."""
    return decode_pixels(read_png(value))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, body) chunks after the signature; ``ValueError`` on a broken structure."""
    out: list[tuple[bytes, bytes]] = []
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("png is not a readable PNG image: truncated chunk")
        length, name = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data) or not name.isalpha():
            raise ValueError("png is not a readable PNG image: broken chunk")
        body = data[pos + 8:end]
        if zlib.crc32(name + body) != struct.unpack(">I", data[end:end + 4])[0]:
            raise ValueError(f"png is not a readable PNG image: bad CRC in {name.decode()}")
        out.append((name, body))
        pos = end + 4
        if name == b"IEND":
            break
    return out


def _chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))

