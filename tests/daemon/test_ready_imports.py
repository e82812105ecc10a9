"""What a started daemon has imported before its first receipt (receiptd/daemon/serve.py).

Rendering, images and codes (PIL, qrcode, python-barcode, python-escpos, wcwidth), the
ePOS-Print routes and the virtual printer ports are imported by the first receipt, preview or
request that needs them, not at start: an idle daemon does not carry their memory. Checked in a
fresh interpreter that builds the daemon the way ``receiptd run`` does (journal opened, API
built), and again after one receipt is rendered, which must then find everything it needs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LAZY = ("PIL", "qrcode", "barcode", "escpos.escpos", "escpos.printer", "usb", "serial",
        "wcwidth",
        "receiptd.vport", "receiptd.render.sections",
        "receiptd.render.preview", "receiptd.api.epos")

_CHILD = r"""
import json, sys
from pathlib import Path

from receiptd.api.app import create_app
from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon
import receiptd.cli.daemon, receiptd.daemon.serve

journal = Path(sys.argv[1])
daemon = Daemon(load_config(None, journal=journal, printers=["front=tcp://127.0.0.1:9"]))
daemon.open_journal()
create_app(daemon)
names = json.loads(sys.argv[2])
loaded = lambda: sorted(n for n in names if sys.modules.get(n) is not None)
idle = loaded()

from receiptd.document import Content
from receiptd.render import render_measured

content = Content.model_validate({"document": {"blocks": [
    {"type": "text", "text": "LUNA", "bold": True},
    {"type": "qr", "data": "https://example.invalid/r/1"},
    {"type": "barcode", "data": "12345678", "symbology": "CODE128"},
    {"type": "cut"},
]}})
data, paper_mm = render_measured(content, daemon.profile("front"))
print(json.dumps({"idle": idle, "after": loaded(), "bytes": len(data)}))
"""


def test_the_idle_daemon_has_not_imported_rendering(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "journal.db"), json.dumps(LAZY)],
        capture_output=True, text=True, timeout=120, check=True,
        env={"ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos"),
             "PATH": "/usr/bin:/bin"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["idle"] == [], result
    # The first receipt imports what it needs, and renders.
    assert {"PIL", "qrcode", "escpos.escpos", "receiptd.render.sections"} <= set(
        result["after"]), result
    assert result["bytes"] > 0
    # python-escpos builds the bytes without its printer drivers (pyusb, pyserial, CUPS):
    # a network printer never loads them.
    assert not {"escpos.printer", "usb", "serial"} & set(result["after"]), result
