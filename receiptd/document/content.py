"""A whole submission: a document of blocks, plain text or raw ESC/POS, and how to parse one.

A submission carries exactly one of ``document`` (a list of blocks), ``text`` (plain text) or
``raw`` (base64 ESC/POS, checked against an allow-list by ``receiptd.document.raw``, which the
API runs once at submission). Callers outside the API use ``parse_submission`` /
``parse_content``, which raise ``InvalidDocument`` or ``TooLarge``.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from receiptd.document.base import Model, b64decode
from receiptd.document.blocks import BarcodeBlock, Block, ImageBlock, QrBlock, RowBlock, TextBlock
from receiptd.document.limits import (
    MAX_BLOCKS,
    MAX_KEY_CHARS,
    MAX_RAW_BYTES,
    MAX_TOTAL_IMAGE_PIXELS,
    MAX_TOTAL_TEXT_CHARS,
    too_large,
)
from receiptd.errors import InvalidDocument, TooLarge


def _block_text(block: Any) -> int:
    if isinstance(block, TextBlock):
        return len(block.text)
    if isinstance(block, RowBlock):
        return len(block.left) + len(block.right)
    if isinstance(block, BarcodeBlock | QrBlock):
        return len(block.data)
    return 0


class Document(Model):
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
            raise too_large(
                "document has {total} characters of text; the limit is {limit}",
                total=total, limit=MAX_TOTAL_TEXT_CHARS,
            )
        # Declared sizes (from each PNG's header): nothing is decoded to count them.
        pixels = sum(b.pixels for b in self.blocks if isinstance(b, ImageBlock))
        if pixels > MAX_TOTAL_IMAGE_PIXELS:
            raise too_large(
                "document has {pixels} image pixels; the limit is {limit}",
                pixels=pixels, limit=MAX_TOTAL_IMAGE_PIXELS,
            )
        return self


ContentKind = Literal["document", "text", "raw"]


class Content(Model):
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
            data = b64decode(self.raw, "raw")
            if not data:
                raise ValueError("raw is empty")
            if len(data) > MAX_RAW_BYTES:
                raise too_large("raw is larger than {limit} bytes", limit=MAX_RAW_BYTES)
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
        return b64decode(self.raw, "raw")


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
