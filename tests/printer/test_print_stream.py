"""Status polls never land inside a print's data.

Real-time commands are executed on arrival, but their bytes are also taken as data: a DLE EOT
poll written between two chunks of a raster image would become three bytes of the image,
shift the rest of the raster, and spill its tail onto the slip as junk. On a serial line the
writes really block (a TCP socket on loopback swallows the whole receipt at once), so the image
here takes a few poll intervals to stream and polls fall due while it is going out.
"""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Callable

from PIL import Image, ImageDraw

from receiptd.emulator import Emulator
from receiptd.links import link_for_url
from receiptd.printer import PrinterSession, SessionSettings

from ..support import DaemonProcess, is_marked, slips_with, wait_until


def tall_png(width: int = 512, height: int = 2000) -> str:
    img = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(img)
    for y in range(0, height, 16):
        draw.rectangle((0, y, width - 1, y + 7), fill=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_no_status_query_inside_a_streaming_image(
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    with Emulator(speed_mm_s=500.0, buffer_size=1024) as emu:
        emu.start_pty(baud=460800)  # 46 KB/s; 128 KB of raster outgrows the pty's buffer
        daemon = daemon_factory({"front": emu.serial_url})
        doc = {"blocks": [{"type": "text", "text": "RECEIPT STREAM"},
                          {"type": "image", "png": tall_png()},
                          {"type": "text", "text": "AFTER THE IMAGE"},
                          {"type": "cut"}]}
        receipt = daemon.submit({"document": doc})
        daemon.wait_printed(receipt["id"], timeout=60)
        slips = slips_with(emu, "RECEIPT STREAM")
        assert len(slips) == 1 and not is_marked(slips[0])
        kinds = [e["type"] for e in slips[0] if e["type"] not in ("event",)]
        images = [e for e in slips[0] if e["type"] == "image"]
        # tall rasters go out in bands; together they must be exactly the picture
        assert {i["width"] for i in images} == {512}, images
        assert sum(i["height"] for i in images) == 2000, images
        texts = [e["text"].strip() for e in slips[0] if e["type"] == "text" and e["text"].strip()]
        assert texts == ["RECEIPT STREAM", "AFTER THE IMAGE"], texts
        assert "unknown" not in kinds, slips[0]


class _RecordingPeer:
    """A TCP peer that takes everything it is sent and answers nothing."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            while data := conn.recv(4096):
                with self._lock:
                    self.received += data

    def count(self) -> int:
        with self._lock:
            return len(self.received)


def test_session_writes_nothing_while_a_print_streams() -> None:
    peer = _RecordingPeer()
    session = PrinterSession("t", link_for_url(f"tcp://127.0.0.1:{peer.port}"),
                             settings=SessionSettings(poll_interval_s=0.1))
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: peer.count() > 0, what="handshake")
        time.sleep(0.3)  # polls are flowing (every 0.1 s)
        assert peer.count() > 0
        with session.print_stream():
            before = peer.count()
            time.sleep(0.6)  # six poll intervals
            assert peer.count() == before, "a status query went out between a print's chunks"
        wait_until(lambda: peer.count() > before, timeout=2, what="polls resume")
    finally:
        session.stop()
        thread.join(5)


def test_progress_marks_between_commands_never_spoil_a_long_mixed_receipt(
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    """A long receipt streams with a status query between its commands every few hundred
    bytes: text, tall images, barcodes and QR codes must come out exactly as sent."""
    with Emulator(speed_mm_s=250.0, buffer_size=4096) as emu:
        emu.start_pty(baud=460800)
        daemon = daemon_factory({"front": emu.serial_url})
        rows = [{"type": "row", "left": f"Item {i:03d} description", "right": f"{i}.00"}
                for i in range(60)]
        doc = {"blocks": [{"type": "text", "text": "RECEIPT MIXED"}, *rows[:30],
                          {"type": "image", "png": tall_png(height=1200)},
                          {"type": "barcode", "data": "12345678", "symbology": "CODE128"},
                          *rows[30:],
                          {"type": "qr", "data": "https://example.com/r/42"},
                          {"type": "text", "text": "AFTER ALL"}, {"type": "cut"}]}
        receipt = daemon.submit({"document": doc})
        printed = daemon.wait_printed(receipt["id"], timeout=60)
        assert [p["state"] for p in printed["prints"]] == ["printed"], printed["prints"]
        slips = slips_with(emu, "RECEIPT MIXED")
        assert len(slips) == 1 and not is_marked(slips[0])
        entries = [e for e in slips[0] if e["type"] != "event"]
        assert "unknown" not in {e["type"] for e in entries}, entries
        assert sum(e["height"] for e in entries if e["type"] == "image") == 1200
        assert [e["data"] for e in entries if e["type"] == "barcode"] == ["12345678"]
        assert [e["data"] for e in entries if e["type"] == "qr"] == ["https://example.com/r/42"]
        texts = [e["text"].strip() for e in entries if e["type"] == "text" and e["text"].strip()]
        assert texts[0] == "RECEIPT MIXED" and texts[-1] == "AFTER ALL"
        assert len([t for t in texts if t.startswith("Item ")]) == 60
