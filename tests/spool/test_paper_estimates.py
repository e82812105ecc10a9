"""What the spooler reckons a print needs, from the bytes it sends: the paper (its deadline,
the per-printer cap) and where progress marks may go between commands.

Raw ESC/POS used to count line feeds only; now every feeding or printing command counts.
"""

from __future__ import annotations

import base64
import struct

import pytest

from receiptd.document import Content
from receiptd.errors import InvalidDocument
from receiptd.render import render
from receiptd.render.paper import (
    PAPER_LIMIT_CODE,
    check_paper_limit,
    command_boundaries,
    paper_length_mm,
    raw_paper_mm,
)
from receiptd.render.profiles import get_profile
from receiptd.spool.prepare import CHUNK, MARK_BYTES, pieces

P = get_profile("TM-T88V")  # 180 dpi: 1/6 inch lines (~4.23 mm)
LINE = P.line_mm
DOT = 1 / P.dots_per_mm


def raster(rows: int, width_bytes: int = 4, fill: int = 0x0A) -> bytes:
    """GS v 0 with data full of 0A bytes: they are image data, not line feeds."""
    return b"\x1dv0\x00" + struct.pack("<HH", width_bytes, rows) + bytes([fill]) * (
        width_bytes * rows)


def test_the_issue_raw_counts_every_feed() -> None:
    data = b"X\n" + b"\x1bd\xff" * 6
    assert raw_paper_mm(data, P) == pytest.approx((1 + 6 * 255) * LINE)
    assert raw_paper_mm(data, P) > 6000
    content = Content.model_validate({"raw": base64.b64encode(data).decode()})
    assert paper_length_mm(content, P) == raw_paper_mm(data, P)


@pytest.mark.parametrize(("data", "mm"), [
    (b"A\nB\nC\n", 3 * LINE),
    (b"\x1bJ\xb4", 180 * DOT),  # ESC J: motion units
    (b"\x1be\x03", 3 * LINE),  # reverse feed takes as long
    (b"\x1b3\x3c" + b"A\n" * 2, 2 * 60 * DOT),  # ESC 3: line spacing
    (b"\x1d!\x11A\n", 48 * DOT),  # double height: the character is taller than the line
    (b"A" * 100 + b"\n", 3 * LINE),  # 100 characters wrap onto three 42-column lines
    (b"\x0c", LINE),
    (b"\x1dVA\x40", 3.0 + 64 * DOT),  # GS V 65 n: feed n, then cut
    (raster(200), 200 * DOT),
    (b"\x1dh\x50\x1dH\x02\x1dkE\x041234", (80 + 30) * DOT),
    (b"", 0.0),
])
def test_raw_paper(data: bytes, mm: float) -> None:
    assert raw_paper_mm(data, P) == pytest.approx(mm)


def test_a_document_and_the_walk_over_its_bytes_agree() -> None:
    doc = Content.model_validate({"document": {"blocks": [
        {"type": "text", "text": "HEADER", "align": "center", "bold": True},
        *({"type": "row", "left": f"Item {i}", "right": f"{i}.00"} for i in range(30)),
        {"type": "feed", "lines": 3}, {"type": "cut"}]}})
    assert raw_paper_mm(render(doc, P), P) == pytest.approx(paper_length_mm(doc, P), rel=0.1)


def test_the_cap_refuses_with_a_stable_code() -> None:
    check_paper_limit(2999.0, 3000.0, "front")
    with pytest.raises(InvalidDocument) as info:
        check_paper_limit(6481.0, 3000.0, "front")
    assert info.value.code == PAPER_LIMIT_CODE == "too_much_paper"
    assert info.value.status == 422 and "front" in info.value.message


def test_boundaries_lie_between_commands_only() -> None:
    data = b"\x1b@A\n" + raster(50) + b"B\n"
    image_start = 4
    image_end = image_start + 8 + 200
    cuts = command_boundaries(data, P)
    assert cuts == [2, 4, image_end, len(data)]
    assert not [c for c in cuts if image_start < c < image_end]  # never inside image data


def test_no_boundary_in_kanji_mode_or_after_a_lone_dle() -> None:
    data = b"\x1c&\xc4\xe3\n\xba\xc3\n\x1c.A\n"
    cuts = command_boundaries(data, P)
    assert cuts == [len(data) - 2, len(data)]  # only once Kanji mode is off again
    assert command_boundaries(b"A\x10B\n", P) == [4]


def test_a_command_of_unknown_length_ends_the_walk() -> None:
    data = b"A\n\x1b\xffZZZ\nB\n"
    assert command_boundaries(data, P) == [2]
    assert raw_paper_mm(data, P) == pytest.approx(LINE)


def test_pieces_end_at_boundaries_after_mark_bytes() -> None:
    line = 45
    boundaries = list(range(line, 200 * line + 1, line))
    out = list(pieces(200 * line, boundaries))
    ends = [end for end, _ in out]
    assert ends[-1] == 200 * line
    assert all(b - a <= CHUNK for a, b in zip([0, *ends], ends, strict=False))
    marked = [end for end, mark in out if mark]
    assert marked and all(e in boundaries for e in marked)
    assert all(b - a >= MARK_BYTES for a, b in zip([0, *marked], marked, strict=False))
    # no boundary within reach (one big image): plain chunks, no marks
    assert list(pieces(3000, [])) == [(1024, False), (2048, False), (3000, False)]
