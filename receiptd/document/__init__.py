"""The receipt document: what a POS app may submit, and its limits.

A submission carries exactly one of ``document`` (a list of blocks), ``text`` (plain text) or
``raw`` (base64 ESC/POS, checked against an allow-list by ``receiptd.document.raw``).

These models check the *shape* of a receipt (types, ranges, sizes, that an image is a PNG
within the pixel limits). Whether it can be printed on a given printer (barcode data valid
for its symbology and narrow enough for the paper) is decided by ``receiptd.render``, which
the API runs once at submission.

Every model forbids unknown fields. A violated limit is a pydantic ``ValidationError``
(the API answers 422, or 413 for a limit); limit errors carry the error type
``too_large``. Callers outside the API use ``parse_submission``/``parse_content``, which raise
``InvalidDocument`` or ``TooLarge``.

* ``limits``: the ``MAX_*`` numbers;
* ``blocks``: one model per kind of block;
* ``images``: PNG decoding within the limits;
* ``content``: ``Document``, ``Content``, ``Submission`` and the ``parse_*`` helpers;
* ``raw``: the allow-list check of raw ESC/POS input (imported on its own, not re-exported).
"""

from receiptd.document.blocks import (
    SIZE_NAMES,
    Align,
    BarcodeBlock,
    Block,
    CutBlock,
    DrawerBlock,
    FeedBlock,
    ImageBlock,
    QrBlock,
    RowBlock,
    RuleBlock,
    Symbology,
    TextBlock,
)
from receiptd.document.content import (
    Content,
    ContentKind,
    Document,
    Submission,
    content_of,
    parse_content,
    parse_submission,
)
from receiptd.document.images import decode_png
from receiptd.document.limits import (
    MAX_BARCODE_CHARS,
    MAX_BLOCKS,
    MAX_FIELD_CHARS,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_HEIGHT,
    MAX_IMAGE_WIDTH,
    MAX_KEY_CHARS,
    MAX_QR_CHARS,
    MAX_RAW_BYTES,
    MAX_TOTAL_IMAGE_PIXELS,
    MAX_TOTAL_TEXT_CHARS,
)

__all__ = [
    "MAX_BARCODE_CHARS",
    "MAX_BLOCKS",
    "MAX_FIELD_CHARS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_HEIGHT",
    "MAX_IMAGE_WIDTH",
    "MAX_KEY_CHARS",
    "MAX_QR_CHARS",
    "MAX_RAW_BYTES",
    "MAX_TOTAL_IMAGE_PIXELS",
    "MAX_TOTAL_TEXT_CHARS",
    "SIZE_NAMES",
    "Align",
    "BarcodeBlock",
    "Block",
    "Content",
    "ContentKind",
    "CutBlock",
    "Document",
    "DrawerBlock",
    "FeedBlock",
    "ImageBlock",
    "QrBlock",
    "RowBlock",
    "RuleBlock",
    "Submission",
    "Symbology",
    "TextBlock",
    "content_of",
    "decode_png",
    "parse_content",
    "parse_submission",
]
