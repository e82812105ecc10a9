"""The submit route takes a submission's printable part without validating it a second time:
what it journals is byte for byte what a validated ``Content`` gives."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from receiptd.api.receipts import INLINE_BODY_BYTES, content_of, inline
from receiptd.document import Content, Submission

DOCUMENTS: list[dict[str, Any]] = [
    {"text": "Order 42\nCoffee   3.20\n", "order_ref": "42"},
    {"raw": base64.b64encode(b"\x1b@hello\n\x1dV\x00").decode(), "idempotency_key": "k-1"},
    {"document": {"blocks": [
        {"type": "text", "text": "CAFE LUNA", "align": "center", "bold": True, "size": [2, 2]},
        {"type": "rule"},
        {"type": "row", "left": "Item 1", "right": "2.50"},
        {"type": "qr", "data": "https://example.com/r/1"},
        {"type": "cut"},
    ]}, "order_ref": "o-1", "idempotency_key": "o-1:r"},
]


@pytest.mark.parametrize("body", DOCUMENTS)
def test_the_printable_part_is_what_validation_gives(body: dict[str, Any]) -> None:
    submission = Submission.model_validate(body)
    validated = Content.model_validate(
        submission.model_dump(include={"document", "text", "raw"}, exclude_none=True))
    taken = content_of(submission)
    assert taken.kind == validated.kind
    assert taken.model_dump_json(exclude_none=True) == validated.model_dump_json(
        exclude_none=True)
    assert taken == validated


@pytest.mark.parametrize(("body", "on_the_loop"), [
    (b'{"text": "Order 42\\nCoffee   3.20\\n"}', True),
    # Text that may be drawn from a font, however it is spelled: a worker thread.
    ('{"text": "收银小票"}'.encode(), False),
    (b'{"text": "\\u6536\\u94f6"}', False),
    ('{"text": "Größe"}'.encode(), False),
    # Longer than a till receipt.
    (b'{"text": "' + b"x" * (INLINE_BODY_BYTES + 1) + b'"}', False),
])
def test_only_cheap_receipts_are_rendered_on_the_event_loop(body: bytes,
                                                            on_the_loop: bool) -> None:
    submission = Submission.model_validate_json(body)
    assert inline(submission, body) is on_the_loop


def test_a_receipt_with_an_image_is_never_rendered_on_the_event_loop() -> None:
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("1", (8, 8)).save(png, format="PNG")
    block = {"type": "image", "png": base64.b64encode(png.getvalue()).decode()}
    body = json.dumps({"document": {"blocks": [block]}}).encode()
    assert len(body) < INLINE_BODY_BYTES and body.isascii()
    assert inline(Submission.model_validate_json(body), body) is False
