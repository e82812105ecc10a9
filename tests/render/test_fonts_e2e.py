"""A fresh machine, for real: the daemon process runs with an empty fontconfig configuration,
so ``fc-list`` finds no font at all, and prints to the emulator on a profile without a
double-byte set. Chinese, Japanese and Korean text must still print (as images drawn in the
font receiptd ships), text that nothing can print must be refused at submission with
``unprintable_text`` and never journaled, and the preview must show the glyphs, not ``?``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from receiptd.emulator import Emulator
from receiptd.render import fonts

from ..support import DaemonProcess, slips_with

Factory = Callable[..., DaemonProcess]
EMPTY_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig></fontconfig>
"""


def no_system_fonts(tmp_path: Path) -> dict[str, str]:
    """The environment of a process that sees no system font through fontconfig."""
    conf = tmp_path / "fonts-empty.conf"
    conf.write_text(EMPTY_FONTCONFIG)
    env = {"FONTCONFIG_FILE": str(conf)}
    fc_list = shutil.which("fc-list")
    if fc_list is not None:  # where fontconfig is installed, prove it really finds nothing
        listed = subprocess.run([fc_list], capture_output=True, text=True, timeout=30,
                                env=env, check=True).stdout
        assert listed.strip() == "", listed
    return env


LINES = ["收银小票", "謝謝光臨 發票", "ありがとう カタカナ", "감사합니다 영수증"]


def test_cjk_prints_on_a_machine_without_fonts_and_a_printer_without_double_byte(
    tmp_path: Path, daemon_factory: Factory, emulator: Emulator
) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"},
                       extra_env=no_system_fonts(tmp_path))
    d.wait_state("online")
    assert d.printer()["profile"] == "TM-T88V"  # no double-byte set
    blocks: list[dict[str, Any]] = [{"type": "text", "text": "FONTS-1"}]
    blocks += [{"type": "text", "text": line} for line in LINES]
    blocks += [{"type": "row", "left": "宫保鸡丁", "right": "38.00"}, {"type": "cut"}]
    receipt = d.submit({"document": {"blocks": blocks}})
    assert receipt["state"] in ("queued", "printing")  # printing: handed to the idle printer
    d.wait_printed(receipt["id"])
    (slip,) = slips_with(emulator, "FONTS-1")
    # every CJK line came out as a paper-wide image where the text was; no "?" anywhere
    kinds = [e["type"] for e in slip]
    assert kinds[:1 + len(LINES) + 1] == ["text"] + ["image"] * (len(LINES) + 1), slip
    assert all(e["width"] == 512 for e in slip if e["type"] == "image")
    assert not any("?" in e.get("text", "") for e in slip)
    # the preview shows real glyphs: the text has the characters, the image their ink
    r = d.clients["cashier"].get(f"/v1/receipts/{receipt['id']}/preview")
    assert r.status_code == 200 and "?" not in r.text
    for line in LINES:
        assert line in r.text
    png = d.clients["cashier"].get(f"/v1/receipts/{receipt['id']}/preview",
                               params={"format": "png"})
    assert png.status_code == 200
    image = Image.open(io.BytesIO(png.content)).convert("L")
    inked_rows = sum(1 for y in range(image.height)
                     if image.crop((0, y, 4 * 24, y + 1)).getextrema()[0] < 128)
    assert inked_rows > len(LINES) * 12  # every CJK line has ink at its start
    # health says how: by the shipped font, system fonts not seen
    text = d.printer()["text"]
    assert text["prints_cjk"] and text["shipped_font"] == fonts.PACKAGED_FAMILY
    assert {s["by"] for s in text["scripts"]} == {"font"}
    assert {s["font"] for s in text["scripts"]} == {fonts.PACKAGED_FAMILY}


@pytest.mark.parametrize("bad", ["\ue000", "\U0001f600", "\u0378"])
def test_unprintable_text_is_refused_at_submission_and_never_journaled(
    tmp_path: Path, daemon_factory: Factory, emulator: Emulator, bad: str
) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"},
                       extra_env=no_system_fonts(tmp_path))
    d.wait_state("online")
    ref = f"bad-{ord(bad):X}"
    r = d.clients["pos"].post("/v1/printers/front/receipts",
                              json={"text": f"收银小票 {bad} 12.00", "order_ref": ref})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unprintable_text"
    assert f"U+{ord(bad):04X}" in error["message"] and "install a font" in error["message"]
    # nothing was accepted: the order has no receipt, the printer got nothing
    order = d.clients["pos"].get(f"/v1/orders/{ref}").json()
    assert order == {"order_ref": ref, "printed": False, "receipts": []}
    ok = d.submit({"text": "FONTS-2\n收银小票", "order_ref": "good"})
    d.wait_printed(ok["id"])
    printed = [s for s in emulator.transcript.slips()
               if any(e["type"] in ("text", "image") for e in s)]
    assert printed == slips_with(emulator, "FONTS-2")
    assert len(printed) == 1
