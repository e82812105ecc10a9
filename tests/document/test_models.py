"""receiptd.document: the submission models, their limits and their errors."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from pydantic import ValidationError

from receiptd import document as doc
from receiptd.document import (
    Content,
    Document,
    ImageBlock,
    Submission,
    TextBlock,
    parse_content,
    parse_submission,
)
from receiptd.errors import InvalidDocument, TooLarge


def png_b64(width: int = 16, height: int = 8, mode: str = "L") -> str:
    buf = io.BytesIO()
    Image.new(mode, (width, height), 0).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def one(block: dict[str, Any]) -> dict[str, Any]:
    return {"document": {"blocks": [block]}}


EVERY_BLOCK: list[dict[str, Any]] = [
    {"type": "text", "text": "Hello", "align": "center", "bold": True, "underline": 2,
     "size": [2, 3], "font": "b"},
    {"type": "text", "text": "Tall", "size": "double-height"},
    {"type": "row", "left": "Coffee", "right": "3.20", "bold": True},
    {"type": "rule"},
    {"type": "rule", "char": "="},
    {"type": "barcode", "data": "4006381333931", "symbology": "EAN13", "height": 60,
     "width": 3, "hri": "none"},
    {"type": "qr", "data": "https://example.com", "size": 5, "ec": "H"},
    {"type": "image", "png": png_b64()},
    {"type": "feed", "lines": 3},
    {"type": "cut", "partial": True},
    {"type": "drawer", "pin": 5},
]


def test_every_block_type_validates_and_round_trips() -> None:
    content = parse_content({"document": {"blocks": EVERY_BLOCK}})
    assert content.kind == "document"
    assert content.document is not None
    assert [b.type for b in content.document.blocks] == [b["type"] for b in EVERY_BLOCK]
    again = Content.model_validate_json(content.model_dump_json())
    assert again == content


def test_named_and_explicit_sizes() -> None:
    assert TextBlock(text="x").scale == (1, 1)
    assert TextBlock(text="x", size="double").scale == (2, 2)
    assert TextBlock(text="x", size=(3, 1)).scale == (3, 1)
    for bad in [[0, 1], [9, 1], "huge", [1, 2, 3]]:
        with pytest.raises(ValidationError):
            TextBlock.model_validate({"text": "x", "size": bad})


def test_image_is_decoded_once_and_kept() -> None:
    block = ImageBlock(png=png_b64(20, 10))
    assert block.image.size == (20, 10)
    assert block.image is block.image


def header_only_png(width: int, height: int) -> str:
    """A PNG whose header claims ``width`` x ``height`` but whose pixel data is damaged:
    only a decoder can tell."""
    def chunk(name: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + name + body
                + struct.pack(">I", zlib.crc32(name + body)))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib data")
            + chunk(b"IEND", b""))
    return base64.b64encode(data).decode()


def test_images_are_checked_from_their_header_and_decoded_only_when_used() -> None:
    """Validation reads each PNG's header, never its pixels: the pixel limits hold before any
    decoding, and the decoding itself happens on first use (when the receipt is rendered)."""
    bomb = {"document": {"blocks": [{"type": "image", "png": header_only_png(2048, 4096)}]
                         * 500}}
    with pytest.raises(TooLarge, match="image pixels"):
        parse_content(bomb)
    content = parse_content(one({"type": "image", "png": header_only_png(64, 32)}))
    assert content.document is not None
    block = content.document.blocks[0]
    assert isinstance(block, ImageBlock)
    assert block.pixels == 64 * 32
    with pytest.raises(InvalidDocument, match="not a readable PNG"):
        _ = block.image


def test_only_the_chunks_of_the_picture_are_decoded() -> None:
    """Text and colour-profile chunks are left out before decoding (they may be compressed
    bombs of their own); the picture is the same."""
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "z" * 200_000, zip=True)
    Image.new("L", (16, 8), 0).save(buf, format="PNG", pnginfo=info)
    block = ImageBlock(png=base64.b64encode(buf.getvalue()).decode())
    assert block.image.size == (16, 8)
    assert "comment" not in block.image.info


def test_plain_text_and_raw_content() -> None:
    text = parse_content({"text": "Order 42\nCoffee 3.20"})
    assert text.kind == "text"
    raw = parse_content({"raw": base64.b64encode(b"\x1b@hello\n").decode()})
    assert raw.kind == "raw"
    assert raw.raw_bytes() == b"\x1b@hello\n"
    with pytest.raises(InvalidDocument):
        text.raw_bytes()


def test_submission_fields() -> None:
    sub = parse_submission({"text": "hi", "idempotency_key": "pos-1:42", "order_ref": "42"})
    assert sub.idempotency_key == "pos-1:42"
    assert doc.content_of(sub) == sub.content() == Content(text="hi")
    for bad in [{"idempotency_key": ""}, {"idempotency_key": "k" * 129},
                {"idempotency_key": "tab\tkey"}, {"order_ref": ""},
                {"order_ref": "x\x1b[2J"}, {"order_ref": "r" * 129}]:
        with pytest.raises(InvalidDocument):
            parse_submission({"text": "hi", **bad})
    assert parse_submission({"text": "hi", "order_ref": "订单-42"}).order_ref == "订单-42"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (one({"type": "hologram"}), "does not match any of the expected tags"),
        (one({"text": "no type"}), "Unable to extract tag"),
        (one({"type": "text", "text": "x", "colour": "red"}), "Extra inputs"),
        ({"document": {"blocks": []}}, "at least 1"),
        ({"document": {"blocks": [], "footer": 1}}, "Extra inputs"),
        ({"document": {"blocks": [{"type": "rule"}]}, "priority": 1}, "Extra inputs"),
        (one({"type": "image", "png": "not base64!"}), "not valid base64"),
        (one({"type": "image", "png": base64.b64encode(b"GIF89a....").decode()}),
         "not a PNG"),
        (one({"type": "image", "png": base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode()}),
         "not a readable PNG"),
        (one({"type": "text", "text": "x", "align": "justify"}), "align"),
        (one({"type": "text", "text": "x", "bold": "yes"}), "bool"),
        (one({"type": "text", "text": "x", "underline": 3}), "underline"),
        (one({"type": "text", "text": "x" * (doc.MAX_FIELD_CHARS + 1)}), "at most"),
        (one({"type": "rule", "char": "ab"}), "at most 1"),
        (one({"type": "rule", "char": "\x1b"}), "visible"),
        (one({"type": "barcode", "data": "12\x1b34"}), "pattern"),
        (one({"type": "barcode", "data": "1", "symbology": "PDF417"}), "symbology"),
        (one({"type": "barcode", "data": "1", "width": 9}), "width"),
        (one({"type": "qr", "data": "a\x10\x14\x02\x01\x08b"}), "control"),
        (one({"type": "qr", "data": "x", "size": 17}), "size"),
        (one({"type": "qr", "data": "x", "ec": "X"}), "ec"),
        (one({"type": "feed", "lines": 0}), "lines"),
        (one({"type": "feed", "lines": 256}), "lines"),
        (one({"type": "drawer", "pin": 3}), "pin"),
        ({}, "exactly one"),
        ({"text": "a", "raw": "G0A="}, "exactly one"),
        ({"raw": "***"}, "not valid base64"),
        ({"raw": ""}, "raw is empty"),
        ({"text": ""}, "at least 1"),
    ],
)
def test_bad_documents_are_invalid(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError):
        Content.model_validate(body)
    with pytest.raises(InvalidDocument) as info:
        parse_content(body)
    assert not isinstance(info.value, TooLarge)
    assert fragment in str(info.value)
    assert info.value.code == "invalid_document"


def test_too_many_blocks() -> None:
    ok = {"document": {"blocks": [{"type": "feed"}] * doc.MAX_BLOCKS}}
    assert parse_content(ok).kind == "document"
    with pytest.raises(InvalidDocument, match="at most 500"):
        parse_content({"document": {"blocks": [{"type": "feed"}] * (doc.MAX_BLOCKS + 1)}})


@pytest.mark.parametrize(
    "body",
    [
        one({"type": "image", "png": png_b64(doc.MAX_IMAGE_WIDTH + 1, 1, "1")}),
        one({"type": "image", "png": png_b64(1, doc.MAX_IMAGE_HEIGHT + 1, "1")}),
        {"document": {"blocks": [{"type": "text", "text": "x" * 4000}] * 17}},
        {"raw": base64.b64encode(b"\0" * (doc.MAX_RAW_BYTES + 1)).decode()},
        {"document": {"blocks": [{"type": "image", "png": png_b64(2048, 2048, "1")}] * 3}},
    ],
)
def test_limits_raise_too_large(body: dict[str, Any]) -> None:
    with pytest.raises(TooLarge) as info:
        parse_content(body)
    assert info.value.status == 413
    with pytest.raises(ValidationError) as err:
        Content.model_validate(body)
    assert any(e["type"] == "too_large" for e in err.value.errors())


def test_limits_at_the_edge_are_accepted() -> None:
    parse_content(one({"type": "image", "png": png_b64(doc.MAX_IMAGE_WIDTH, 4, "1")}))
    parse_content(one({"type": "text", "text": "x" * doc.MAX_FIELD_CHARS}))


def test_json_schema_documents_the_fields() -> None:
    schema = Submission.model_json_schema()
    text = json.dumps(schema)
    assert "idempotency_key" in text and "discriminator" in text
    defs = schema["$defs"]
    assert defs["TextBlock"]["properties"]["text"]["description"]
    assert defs["BarcodeBlock"]["properties"]["symbology"]["description"]
    assert Document.model_json_schema()["examples"]
