"""receiptd.preview: the slip as text and as an image whose codes scan."""

from __future__ import annotations

import base64
import io
import itertools
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from receiptd.document import Content, parse_content
from receiptd.errors import InvalidDocument
from receiptd.render import copy_marker, interrupted_marker
from receiptd.render.preview import preview_png, preview_text
from receiptd.render.profiles import Profile, get_profile

T88 = get_profile("TM-T88V")
P20 = get_profile("TM-P20")


def doc(*blocks: dict[str, Any]) -> Content:
    return parse_content({"document": {"blocks": list(blocks)}})


def png_b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


RECEIPT = doc(
    {"type": "text", "text": "CAFE ROMA", "align": "center", "size": [2, 2], "bold": True},
    {"type": "text", "text": "Table 4", "align": "right"},
    {"type": "rule"},
    {"type": "row", "left": "Espresso", "right": "2.90"},
    {"type": "row", "left": "Tiramisu with mascarpone and cocoa", "right": "6.50"},
    {"type": "rule", "char": "="},
    {"type": "row", "left": "TOTAL", "right": "9.40", "bold": True},
    {"type": "feed", "lines": 1},
    {"type": "barcode", "data": "ORDER-1842"},
    {"type": "qr", "data": "https://example.com/r/1842"},
    {"type": "image", "png": png_b64(Image.new("L", (1000, 100), 0))},
    {"type": "cut"},
    {"type": "drawer"},
)


def test_preview_text_at_32_columns() -> None:
    expected = (
        "================================\n"
        "             COPY 2\n"
        "================================\n"
        "       CAFE ROMA\n"
        "                         Table 4\n"
        "--------------------------------\n"
        "Espresso                    2.90\n"
        "Tiramisu with mascarpone    6.50\n"
        "and cocoa\n"
        "================================\n"
        "TOTAL                       9.40\n"
        "\n"
        "  [BARCODE CODE128 ORDER-1842]\n"
        "[QR https://example.com/r/1842]\n"
        "         [IMAGE 384x38]\n"
        "[CUT]\n"
        "[DRAWER]\n"
    )
    assert preview_text(RECEIPT, P20, marker=copy_marker(2, None)) == expected


def test_preview_text_lines_fit_the_paper() -> None:
    for profile in (T88, P20):
        text = preview_text(RECEIPT, profile, marker=interrupted_marker(2, None))
        assert "*** REPRINT: interrupted ***" in text
        assert all(len(line) <= profile.columns for line in text.splitlines())


def test_preview_text_neutralises_controls_and_shows_raw() -> None:
    text = preview_text(doc({"type": "text", "text": "a\x1b@b\tc"}), T88)
    assert text == "a?@b c\n"
    raw = Content(raw=base64.b64encode(b"\x1b@hi\n").decode())
    assert preview_text(raw, T88) == "[RAW 5 bytes]\n"
    plain = preview_text(Content(text="hello\nworld"), T88)
    assert plain == "hello\nworld\n[CUT]\n"


def test_preview_raises_like_render() -> None:
    with pytest.raises(InvalidDocument):
        preview_text(doc({"type": "barcode", "data": "ABC", "symbology": "EAN13"}), T88)
    with pytest.raises(InvalidDocument):
        preview_png(doc({"type": "barcode", "data": "ABC", "symbology": "EAN13"}), T88)


def decode(png: bytes) -> list[tuple[str, str]]:
    image = Image.open(io.BytesIO(png))
    return [(r.format.name, r.text) for r in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("profile", [T88, P20, get_profile("POS-5890")], ids=lambda p: p.name)
@pytest.mark.parametrize(
    ("symbology", "data", "expected"),
    [
        ("CODE128", "ORDER-1842{x}", "ORDER-1842{x}"),
        ("EAN13", "400638133393", "4006381333931"),
        ("EAN13", "4006381333931", "4006381333931"),
        ("EAN8", "9638507", "96385074"),
        ("UPC-A", "036000291452", "036000291452"),
        ("CODE39", "ABC-123", "ABC-123"),
        ("ITF", "12345678", "12345678"),
        ("CODABAR", "A40156B", "A40156B"),
    ],
)
def test_preview_png_barcodes_scan(
    profile: Profile, symbology: str, data: str, expected: str
) -> None:
    content = doc({"type": "barcode", "data": data, "symbology": symbology})
    found = decode(preview_png(content, profile))
    assert len(found) == 1
    _, text = found[0]
    if symbology == "UPC-A" and len(text) == 13:
        text = text[1:]  # some readers report UPC-A as EAN-13 with a leading 0
    assert text == expected


@pytest.mark.parametrize("profile", [T88, P20], ids=lambda p: p.name)
@pytest.mark.parametrize(
    "data", ["https://example.com/r/1842", "12345", "Grüße 你好\nline 2", "x" * 600]
)
def test_preview_png_qr_scans(profile: Profile, data: str) -> None:
    png = preview_png(doc({"type": "text", "text": "above"}, {"type": "qr", "data": data},
                          {"type": "text", "text": "below"}), profile)
    assert decode(png) == [("QRCode", data)]


def test_preview_png_whole_receipt() -> None:
    png = preview_png(RECEIPT, T88, marker=copy_marker(2, None))
    image = Image.open(io.BytesIO(png))
    assert image.width == T88.width_dots
    assert image.height > 600
    found = dict((fmt, text) for fmt, text in decode(png))
    assert found == {"Code128": "ORDER-1842", "QRCode": "https://example.com/r/1842"}
    # The 1000x100 black image is pasted scaled to the paper: a full-width black band.
    grey = image.convert("L")
    rows = [y for y in range(image.height)
            if all(grey.getpixel((x, y)) == 0 for x in range(0, image.width, 16))]
    # The longest run of such rows (a font whose "=" fills its cell draws a rule that is
    # black at every 16th dot too, two rows high).
    runs = [1]
    for above, y in itertools.pairwise(rows):
        runs.append(runs[-1] + 1 if y == above + 1 else 1)
    assert max(runs) == 51  # 100 * 512 / 1000


def test_preview_png_raw() -> None:
    png = preview_png(Content(raw=base64.b64encode(b"\x1b@hi\n").decode()), P20)
    assert Image.open(io.BytesIO(png)).width == P20.width_dots
