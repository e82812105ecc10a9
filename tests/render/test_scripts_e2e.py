"""Chinese, Japanese, Korean and mixed Latin receipts end to end: the real daemon (with the
printer's profile from its TOML config) printing to the emulator configured with the same
double-byte character set, over TCP. The emulator's transcript must show the original text,
with rows that end exactly at the paper's last column."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wcwidth import wcswidth

from receiptd.emulator import Emulator
from receiptd.render import glyphs

from ..support import DaemonProcess, slips_with


@pytest.fixture
def make_printer(
    tmp_path: Path, daemon_factory: Callable[..., DaemonProcess]
) -> Iterator[Callable[..., tuple[Emulator, DaemonProcess]]]:
    emulators: list[Emulator] = []

    def make(profile: str, overrides: dict[str, Any], cjk: str,
             columns: int) -> tuple[Emulator, DaemonProcess]:
        emu = Emulator(speed_mm_s=2000.0, columns=columns, cjk=cjk)
        emulators.append(emu)
        emu.start_tcp()
        lines = [f'[printers.front]\nurl = "{emu.tcp_url}"\nprofile = "{profile}"\n',
                 "[printers.front.profile_overrides]\n"]
        lines += [f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n"
                  for k, v in overrides.items()]
        config = tmp_path / "receiptd.toml"
        config.write_text("".join(lines))
        return emu, daemon_factory({"front": emu.tcp_url}, extra_args=["--config", str(config)])

    yield make
    for emu in emulators:
        emu.stop()


def print_slip(daemon: DaemonProcess, emu: Emulator, tag: str,
               blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = {"document": {"blocks": [{"type": "text", "text": tag}, *blocks, {"type": "cut"}]}}
    receipt = daemon.submit(body)
    daemon.wait_printed(receipt["id"])
    slips = slips_with(emu, tag)
    assert len(slips) == 1
    return slips[0]


def texts(slip: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in slip if e["type"] == "text"]


CASES = {
    "simplified": ("gb18030", "收银小票",
                   [("宫保鸡丁 Kung Pao", "38.00"), ("珍珠奶茶（大杯）", "¥16.50")],
                   "谢谢惠顾，欢迎再次光临"),
    "traditional": ("big5", "收銀小票",
                    [("牛肉麵 Beef noodles", "180.00"), ("臺灣珍珠奶茶", "65.00")], "謝謝光臨"),
    "japanese": ("shift_jis", "領収書", [("ラーメン 醤油", "¥850"), ("ぎょうざ Gyoza", "¥400")],
                 "ありがとうございました ｶﾀｶﾅ"),
    "korean": ("ksc5601", "영수증", [("김치찌개 Kimchi stew", "9,000"), ("비빔밥", "8,500")],
               "감사합니다 Thank you"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cjk_receipt_round_trip(make_printer: Callable[..., tuple[Emulator, DaemonProcess]],
                                case: str) -> None:
    cjk, title, rows, footer = CASES[case]
    emu, daemon = make_printer("TM-T88V", {"double_byte": cjk}, cjk, 42)
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": title, "align": "center", "bold": True},
        *({"type": "row", "left": left, "right": right} for left, right in rows),
        {"type": "rule"},
        {"type": "row", "left": "TOTAL 合計" if cjk != "ksc5601" else "TOTAL 합계",
         "right": "1.00"},
        {"type": "text", "text": footer},
    ]
    slip = print_slip(daemon, emu, f"CJK-{case}", blocks)
    assert [e["type"] for e in slip if e["type"] == "image"] == []  # all sent as text
    printed = texts(slip)
    assert printed[1] == title
    for (left, right), line in zip(rows, printed[2:4], strict=True):
        assert line.startswith(left) and line.endswith(right)
        assert wcswidth(line) == 42
    assert printed[4] == "-" * 42
    assert wcswidth(printed[5]) == 42
    assert printed[6] == footer


# -- columns at both paper widths ----------------------------------------------------------------

MIXED = [("宫保鸡丁 Kung Pao Chicken", "38.00"), ("Latte 拿铁（大杯）", "4.50"),
         ("Beef noodle soup 牛肉面 with chilli oil", "42.00"), ("合计 TOTAL", "84.50")]


@pytest.mark.parametrize(("profile", "columns"), [("TM-P20", 32), ("TM-T88V", 42),
                                                  ("TM-T20II", 48)])
def test_rows_align_on_paper(make_printer: Callable[..., tuple[Emulator, DaemonProcess]],
                             profile: str, columns: int) -> None:
    emu, daemon = make_printer(profile, {"double_byte": "gb18030"}, "gb18030", columns)
    blocks = [{"type": "row", "left": left, "right": right} for left, right in MIXED]
    slip = print_slip(daemon, emu, f"COLS-{columns}", [*blocks, {"type": "rule"}])
    printed = [line for line in texts(slip)[1:] if line]  # (a tear-off feed: empty lines)
    for line in printed:
        assert wcswidth(line) <= columns
    ends = [line for line in printed if line.endswith(("38.00", "4.50", "42.00", "84.50"))]
    assert len(ends) == 4
    assert {wcswidth(line) for line in ends} == {columns}  # every right column lines up
    assert printed[-1] == "-" * columns
    # nothing lost by the wrapping: every character of every left text was printed
    joined = "".join(printed).replace(" ", "")
    for _, right in MIXED:
        joined = joined.replace(right, "")
    for left, _ in MIXED:
        assert left.replace(" ", "") in joined


# -- fallback ------------------------------------------------------------------------------------


# Hangul is drawn in the font receiptd ships; emoji need a system font (Symbola).
@pytest.mark.skipif(glyphs.font_for("\U0001f600") is None,
                    reason="no emoji font installed (apt-get install fonts-symbola)")
def test_unprintable_lines_print_as_images(
    make_printer: Callable[..., tuple[Emulator, DaemonProcess]]
) -> None:
    emu, daemon = make_printer("TM-T88V", {"double_byte": "gb18030"}, "gb18030", 42)
    slip = print_slip(daemon, emu, "FALLBACK-1", [
        {"type": "text", "text": "Thank you 😀"},
        {"type": "text", "text": "김치 kimchi"},  # Hangul: not in this printer's GB18030 font
        {"type": "row", "left": "中文 Chinese", "right": "1.00"},
    ])
    images = [e for e in slip if e["type"] == "image"]
    assert images == [{"type": "image", "width": 512, "height": 30}] * 2
    row = [line for line in texts(slip) if line][-1]
    assert row.startswith("中文 Chinese") and wcswidth(row) == 42
    text = emu.transcript.text()
    assert "[IMAGE 512x30]" in text
