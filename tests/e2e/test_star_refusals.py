"""A Star printer is refused what only ESC/POS printers can print, at submission, by name."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable

from ..support import DaemonProcess


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_raw_escpos_for_a_star_printer_is_422_dialect_mismatch(
        daemon_factory: Callable[..., DaemonProcess]) -> None:
    port = _closed_port()  # nothing listens: acceptance does not need the printer
    daemon = daemon_factory({"bar": f"tcp://127.0.0.1:{port}?dialect=star&profile=TSP600",
                             "front": f"tcp://127.0.0.1:{port}"})
    raw = {"raw": base64.b64encode(b"\x1b@hello\n").decode()}
    r = daemon.clients["pos"].post("/v1/printers/bar/receipts", json=raw)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "dialect_mismatch"
    assert "star" in r.json()["error"]["message"]
    # Nothing was journaled for it.
    listing = daemon.clients["admin"].get("/v1/receipts", params={"printer": "bar"})
    assert listing.status_code == 200, listing.text
    assert not listing.json()["receipts"]
    # The same bytes for an ESC/POS printer are accepted as before.
    ok = daemon.clients["pos"].post("/v1/printers/front/receipts", json=raw)
    assert ok.status_code in (200, 202), ok.text
