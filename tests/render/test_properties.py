"""Property: every document that validates renders, on every built-in profile. The only
refusal allowed is ``InvalidDocument`` for a barcode its symbology or the paper cannot carry
(checked at submission, so the client hears it as a 422); everything else always renders."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from receiptd.document import parse_content
from receiptd.errors import ConfigError, InvalidDocument, UnprintableText
from receiptd.render import paper_length_mm, render, render_measured
from receiptd.render.profiles import get_profile, list_profiles
from receiptd.render.text import substitute_unprintable

# Listed by list_profiles() although get_profile() refuses them: python-escpos capability
# entries of 100-dot customer displays whose 20 columns do not fit. Named here, not skipped in
# silence: test_listed_profiles_load_but_the_named_ones fails when one more stops loading, and
# when one of these is fixed (then it leaves this set and joins the properties).
UNUSABLE = frozenset({"AF-240", "OCD-100"})
PROFILES = [get_profile(name) for name in list_profiles() if name not in UNUSABLE]
any_text = st.text(st.characters(codec="utf-8"), max_size=120)
align = st.sampled_from(["left", "center", "right"])


@st.composite
def png(draw: st.DrawFn) -> str:
    w, h = draw(st.integers(1, 700)), draw(st.integers(1, 60))
    mode = draw(st.sampled_from(["1", "L", "RGB", "RGBA", "P"]))
    buf = io.BytesIO()
    Image.new(mode, (w, h), draw(st.integers(0, 255)) if mode in "1LP" else
              (draw(st.integers(0, 255)),) * len(mode)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


blocks = st.one_of(
    st.builds(lambda t, a, b, u, s, f: {"type": "text", "text": t, "align": a, "bold": b,
                                        "underline": u, "size": s, "font": f},
              any_text, align, st.booleans(), st.sampled_from([0, 1, 2]),
              st.one_of(st.tuples(st.integers(1, 8), st.integers(1, 8)).map(list),
                        st.sampled_from(["normal", "double", "triple", "quadruple"])),
              st.sampled_from(["a", "b"])),
    st.builds(lambda left, right, b: {"type": "row", "left": left, "right": right, "bold": b},
              any_text, any_text, st.booleans()),
    st.builds(lambda c: {"type": "rule", "char": c},
              st.characters(min_codepoint=0x21, max_codepoint=0x2FFF).filter(str.isprintable)),
    st.builds(lambda d, e, s, a: {"type": "qr", "data": d, "ec": e, "size": s, "align": a},
              st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]),
                      min_size=1, max_size=300), st.sampled_from("LMQH"), st.integers(1, 16),
              align),
    st.builds(lambda d: {"type": "barcode", "data": d, "symbology": "CODE128"},
              st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                      max_size=40)),
    st.builds(lambda d, sym: {"type": "barcode", "data": d, "symbology": sym},
              st.text("0123456789", min_size=1, max_size=14),
              st.sampled_from(["EAN13", "EAN8", "UPC-A", "ITF", "CODE39", "CODABAR"])),
    st.builds(lambda p, a: {"type": "image", "png": p, "align": a}, png(), align),
    st.builds(lambda n: {"type": "feed", "lines": n}, st.integers(1, 255)),
    st.builds(lambda p: {"type": "cut", "partial": p}, st.booleans()),
    st.builds(lambda p: {"type": "drawer", "pin": p}, st.sampled_from([2, 5])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(blocks, min_size=1, max_size=12), st.sampled_from(PROFILES))
def test_every_valid_document_renders(items: list[dict[str, Any]], profile: Any) -> None:
    content = parse_content({"document": {"blocks": items}})
    barcodes = any(b["type"] == "barcode" for b in items)
    try:
        data = render(content, profile)
    except UnprintableText as exc:  # text no code page, double-byte set or font has
        assert exc.code == "unprintable_text" and "U+" in exc.message, exc
        return
    except InvalidDocument as exc:
        assert barcodes, f"refused a document without a barcode: {exc}"
        assert "barcode" in str(exc).lower(), exc
        return
    assert isinstance(data, bytes) and data
    # Only a drawer-only slip uses no paper: an estimate of 0 for anything else would give
    # the printer no time to print it before its deadline.
    drawer_only = all(b["type"] == "drawer" for b in items)
    assert (paper_length_mm(content, profile) == 0) == drawer_only, items
    assert render(content, profile, marker="*** REPRINT: interrupted ***\nattempt 2") != data


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=2000),
       st.sampled_from(PROFILES))
def test_every_valid_plain_text_renders(text: str, profile: Any) -> None:
    with substitute_unprintable():  # any text: what nothing can print shows as "?"
        data = render(parse_content({"text": text}), profile)
    assert data
    for realtime in (b"\x10\x04", b"\x10\x05", b"\x10\x14"):  # DLE EOT / ENQ / DC4
        assert realtime not in data


def _refusal(name: str) -> str | None:
    try:
        get_profile(name)
    except ConfigError as exc:
        return str(exc)
    return None


def test_listed_profiles_load_but_the_named_ones() -> None:
    refused = {name: why for name in list_profiles() if (why := _refusal(name))}
    assert set(refused) == UNUSABLE, refused
    assert len(PROFILES) == len(list_profiles()) - len(UNUSABLE) >= 20



def _image(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("1", (width, height), 0).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# One block of every kind: sampled profiles may miss one; this document meets every profile.
EVERY_KIND = {"blocks": [
    {"type": "text", "text": "CAFE ROMA", "align": "center", "bold": True, "size": [2, 2]},
    {"type": "row", "left": "Espresso", "right": "2.90"},
    {"type": "rule"},
    {"type": "barcode", "data": "1842", "symbology": "CODE128"},
    {"type": "qr", "data": "https://example.com/r/1842"},
    {"type": "image", "png": _image(200, 40)},
    {"type": "feed", "lines": 2},
    {"type": "cut"},
    {"type": "drawer"},
]}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_a_document_with_every_kind_of_block_renders_on_every_profile(profile: Any) -> None:
    content = parse_content({"document": EVERY_KIND})
    data = render(content, profile)
    assert data.startswith(b"\x1b@") and paper_length_mm(content, profile) > 0



@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(blocks, min_size=1, max_size=12), st.sampled_from(PROFILES))
def test_one_layout_renders_and_measures_as_the_two_calls_do(
    items: list[dict[str, Any]], profile: Any,
) -> None:
    """What accepting a receipt uses (``render_measured``) is exactly ``render`` plus
    ``paper_length_mm``."""
    content = parse_content({"document": {"blocks": items}})
    try:
        expected = (render(content, profile), paper_length_mm(content, profile))
    except InvalidDocument:
        return
    assert render_measured(content, profile) == expected
