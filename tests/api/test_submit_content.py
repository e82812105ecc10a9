"""The submit route takes a submission's printable part without validating it a second time:
what it journals is byte for byte what a validated ``Content`` gives."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from receiptd.api.receipts import content_of
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
