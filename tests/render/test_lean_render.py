"""What rendering loads, and what it leaves out: the memory a daemon carries after its first
receipt (bench/memory.py).

* wcwidth (its Unicode tables: about 1 MB) is loaded by the first character that is not
  printable ASCII, not by a receipt of ASCII text; the columns it counts are the library's.
  So are the printer's code page tables (``Charset.maps``: every code page decoded through
  Python's codecs, about 1.5 MB); tests/render/test_render.py checks the bytes either way.
* python-escpos's pickled printer database is written by ``render.escpos`` from the database
  read as JSON, so python-escpos never parses it with PyYAML (about 2.4 MB more resident on
  a fresh cache); it is the same data PyYAML reads. PyYAML itself is not even imported (0.8
  MB) unless python-escpos parses a database of one's own in YAML.
* Pillow's drawing and fonts (``PIL.ImageDraw``, ``PIL.ImageFont``, FreeType) and the XML DOM
  (1.9 MB), which qrcode and python-barcode import, are imported when something draws: a
  glyph the printer lacks, not a receipt of text and codes the printer draws itself.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from wcwidth import wcwidth as library_wcwidth

from receiptd.render import capabilities, escpos, text

ROOT = Path(__file__).resolve().parents[2]

_RENDER = r"""
import json, sys
from receiptd.document import Content
from receiptd.render import render
from receiptd.render.profiles import get_profile

from receiptd.render.text import charset_of

blocks = json.loads(sys.argv[1])
content = Content.model_validate({"document": {"blocks": blocks}})
profile = get_profile("TM-T88V")
data = render(content, profile)
print(json.dumps({"bytes": data.hex(), "wcwidth": "wcwidth" in sys.modules,
                  "code_pages": "maps" in vars(charset_of(profile)),
                  "yaml": "yaml" in sys.modules}))
"""


def _render_in_child(blocks: list[dict[str, object]], tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos")}
    out = subprocess.run([sys.executable, "-c", _RENDER, json.dumps(blocks)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_an_ascii_receipt_loads_neither_wcwidth_nor_the_code_pages(tmp_path: Path) -> None:
    blocks: list[dict[str, object]] = [
        {"type": "text", "text": "CAFE LUNA " * 12, "align": "center", "bold": True},
        {"type": "row", "left": "Espresso", "right": "2.50"},
        {"type": "qr", "data": "https://example.invalid/r/1"},
        {"type": "cut"},
    ]
    ascii_only = _render_in_child(blocks, tmp_path)
    assert (ascii_only["wcwidth"], ascii_only["code_pages"]) == (False, False)
    assert ascii_only["yaml"] is False  # the pickle was loaded: PyYAML never imported
    blocks.insert(1, {"type": "text", "text": "Café crème"})
    accented = _render_in_child(blocks, tmp_path)
    assert (accented["wcwidth"], accented["code_pages"]) == (True, True)
    assert "c3a9" not in accented["bytes"]  # é went out in a code page, not as UTF-8


def test_columns_are_the_libraries_for_every_character() -> None:
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        assert text.wcwidth(char) == library_wcwidth(char), hex(code)


def test_json_and_yaml_read_the_same_printer_database() -> None:
    path = capabilities.database_path()
    with path.open(encoding="utf-8") as fh:
        as_json = json.load(fh)
    with path.open(encoding="utf-8") as fh:
        as_yaml = yaml.safe_load(fh)
    assert as_json == as_yaml


def test_the_pickle_is_written_from_json_and_kept_while_fresh(tmp_path: Path) -> None:
    target = Path(escpos.pickle_path(str(tmp_path)))
    assert escpos.prime_pickle(str(tmp_path)) is True
    with target.open("rb") as fh:
        data = pickle.load(fh)
    assert data == escpos.CAPABILITIES
    # The pickle and its stamp, no temporary file left.
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name, target.name + ".source"]
    # Made here from this database: left as it is (python-escpos loads it).
    assert escpos.prime_pickle(str(tmp_path)) is False
    # Older than the database (python-escpos upgraded): written again.
    old = capabilities.database_path().stat().st_mtime - 60
    os.utime(target, (old, old))
    assert escpos.prime_pickle(str(tmp_path)) is True
    assert target.stat().st_mtime >= capabilities.database_path().stat().st_mtime
    # One python-escpos wrote (no stamp): it may come from another database, so written again.
    (tmp_path / (target.name + ".source")).unlink()
    assert escpos.prime_pickle(str(tmp_path)) is True


def test_a_database_of_ones_own_in_yaml_is_left_to_python_escpos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-escpos takes any pickle newer than its database file: one made from the shipped
    # database must not stand for another file. It is removed, and python-escpos reads the
    # YAML itself.
    assert escpos.prime_pickle(str(tmp_path)) is True
    own = tmp_path / "own" / "capabilities.yml"
    own.parent.mkdir()
    own.write_text("profiles:\n  default:\n    name: Own\n")
    old = Path(escpos.pickle_path(str(tmp_path))).stat().st_mtime - 60
    os.utime(own, (old, old))  # older than the pickle: python-escpos alone would take it
    monkeypatch.setenv(capabilities.ENV_FILE, str(own))
    assert escpos.prime_pickle(str(tmp_path)) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own"]


def test_python_escpos_loads_the_primed_pickle_without_parsing_yaml(tmp_path: Path) -> None:
    cache = tmp_path / "escpos"
    code = (
        "import sys, yaml\n"
        "parsed = []\n"
        "real = yaml.safe_load\n"
        "yaml.safe_load = lambda *a, **k: parsed.append(1) or real(*a, **k)\n"
        "from receiptd.render.escpos import CAPABILITIES\n"
        "print(len(parsed), len(CAPABILITIES['profiles']))\n"
    )
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    parsed, profiles = out.stdout.split()
    assert parsed == "0"  # a fresh cache directory, and yet no YAML parse
    assert int(profiles) == len(capabilities.profiles())
    assert Path(escpos.pickle_path(str(cache))).is_file()


def test_a_database_of_ones_own_in_yaml_is_parsed_with_pyyaml(tmp_path: Path) -> None:
    # No pickle stands for it, so python-escpos parses it: its stand-in for PyYAML imports
    # the real module then, and that module is the one whoever imports yaml later gets.
    own = tmp_path / "capabilities.yml"
    own.write_text("profiles:\n  default:\n    name: Own\nencodings: {}\n")
    code = (
        "import sys, types\n"
        "from receiptd.render.escpos import CAPABILITIES\n"
        "loaded = type(sys.modules.get('yaml')) is types.ModuleType\n"
        "import yaml\n"
        "print(CAPABILITIES['profiles']['default']['name'], loaded, yaml.safe_load('a: 1'))\n"
    )
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos"),
           capabilities.ENV_FILE: str(own)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["Own", "True", "{'a':", "1}"]


_DRAWING = r"""
import json, sys
from receiptd.document import Content
from receiptd.render import render
from receiptd.render.profiles import get_profile

def real():
    return sorted(n for n in ("PIL.ImageDraw", "PIL.ImageFont", "PIL._imagingft",
                              "xml.dom.minidom")
                  if type(sys.modules.get(n)).__name__ == "module")

def receipt(text):
    return Content.model_validate({"document": {"blocks": [
        {"type": "text", "text": text, "bold": True},
        {"type": "qr", "data": "https://example.invalid/r/1"},
        {"type": "barcode", "data": "12345678", "symbology": "CODE128"},
        {"type": "cut"}]}})

profile = get_profile("TM-T88V")
plain = render(receipt("LUNA"), profile)
after_plain = real()
drawn = render(receipt("宫保鸡丁"), profile)  # no double-byte set: drawn as an image
after_drawn = real()

import PIL
from barcode import get_barcode_class
from barcode.writer import ImageWriter, SVGWriter
from qrcode.image.styles.moduledrawers import CircleModuleDrawer

image = get_barcode_class("code128")("12345", writer=ImageWriter()).render()
svg = get_barcode_class("code128")("12345", writer=SVGWriter()).render()
print(json.dumps({"plain": after_plain, "drawn": after_drawn, "sizes": [len(plain), len(drawn)],
                  "package": PIL.ImageDraw is sys.modules["PIL.ImageDraw"],
                  "barcode_image": image.size[0] > 0, "svg": b"<svg" in svg,
                  "after_writers": real(),
                  "drawer": CircleModuleDrawer.__module__}))
"""


def test_pillows_drawing_is_imported_when_something_draws(tmp_path: Path) -> None:
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos")}
    out = subprocess.run([sys.executable, "-c", _DRAWING], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["plain"] == [], result  # text, and codes the printer draws
    assert result["drawn"] == ["PIL.ImageDraw", "PIL.ImageFont", "PIL._imagingft"], result
    sizes = result["sizes"]
    assert sizes[1] > sizes[0] > 0, result
    # The libraries that import them get the modules themselves once used.
    assert result["package"] is True and result["barcode_image"] is True, result
    assert result["svg"] is True and "xml.dom.minidom" in result["after_writers"], result
    assert result["drawer"] == "qrcode.image.styles.moduledrawers.pil", result
