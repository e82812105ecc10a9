"""A printer's identity → the profile, dialect and double-byte set it needs, and warnings
where the config says otherwise."""

from __future__ import annotations

import pytest

from receiptd.render.identify import Suggestion, advise, suggest
from receiptd.render.profiles import get_profile


@pytest.mark.parametrize(("identity", "expected"), [
    # What the emulator (and a TM-T88V) answers to GS I 66, 67, 65, 69.
    ({"maker": "EPSON", "model": "TM-T88V", "firmware": "1.00 ESC/POS", "font": "PC437"},
     Suggestion("TM-T88V", "escpos", None)),
    # A newer model than any profile: the closest older one it is named after.
    ({"maker": "EPSON", "model": "TM-T88VI"}, Suggestion("TM-T88V", "escpos", None)),
    ({"maker": "EPSON", "model": "TM-T20III"}, Suggestion("TM-T20II", "escpos", None)),
    # Chinese models: the font of their language names the double-byte set.
    ({"maker": "Xprinter", "model": "XP-58IIH", "font": "CHINA GB2312"},
     Suggestion(None, "escpos", "gb18030")),
    ({"maker": "EPSON", "model": "TM-T88V", "font": "TAIWAN BIG-5"},
     Suggestion("TM-T88V", "escpos", "big5")),
    ({"maker": "EPSON", "model": "TM-T88IV", "font": "KANJI JAPANESE"},
     Suggestion("TM-T88IV", "escpos", "shift_jis")),
    ({"maker": "EPSON", "model": "TM-T88V", "font": "KOREA C-5601C"},
     Suggestion("TM-T88V", "escpos", "ksc5601")),
    # Star: Line Mode models and the raster-only TSP100 family.
    ({"maker": "Star Micronics", "model": "TSP650II"}, Suggestion("TSP600", "star", None)),
    ({"model": "TSP143IIIU"}, Suggestion("TSP600", "star_raster", None)),
    ({"model": "MCP31"}, Suggestion("TSP600", "star", None)),
    ({}, Suggestion()),
])
def test_identity_suggests_settings(identity: dict[str, str], expected: Suggestion) -> None:
    assert suggest(identity) == expected


def test_every_suggested_profile_loads() -> None:
    for model in ("TM-T88V", "TM-T88VI", "TM-T20III", "TSP650II", "TSP143IIIU"):
        name = suggest({"model": model}).profile
        assert name is not None
        assert get_profile(name).name == name


def test_only_named_settings_that_disagree_are_warned_about() -> None:
    s = suggest({"maker": "EPSON", "model": "TM-T20II", "font": "CHINA GB2312"})
    warnings = advise(s, profile="TM-T88V", dialect="escpos", double_byte=None,
                      named={"profile"})
    assert [(w.setting, w.configured, w.suggested) for w in warnings] == [
        ("profile", "TM-T88V", "TM-T20II")]
    assert "TM-T20II" in warnings[0].message and "config is used" in warnings[0].message
    # Not named: the suggestion fills it, no warning. Named and equal: nothing to say.
    assert advise(s, profile="TM-T20II", dialect="escpos", double_byte="gb18030",
                  named={"profile", "dialect", "double_byte"}) == []
    star = advise(suggest({"model": "TSP143IIIU"}), profile="TSP600", dialect="escpos",
                  double_byte=None, named={"dialect"})
    assert [(w.setting, w.suggested) for w in star] == [("dialect", "star_raster")]
