"""Images against the real daemon: a receipt's pixel limits are checked from the PNG headers
before anything is decoded, decoding never runs on the event loop, and a damaged image is a
422 with nothing journaled."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess

pytestmark = pytest.mark.timeout(240)


def png(width: int, height: int, dots: bool = False) -> bytes:
    image = Image.new("1", (width, height), 1 if dots else 0)
    if dots:  # a pattern, so the file is not just one zlib run
        pixels = image.load()
        assert pixels is not None
        for y in range(0, height, 7):
            for x in range(0, width, 13):
                pixels[x, y] = 0
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def peak_rss_mib(pid: int) -> int:
    """The daemon's resident-set high-water mark (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM in /proc status")


def journal_count(daemon: DaemonProcess) -> int:
    with sqlite3.connect(f"file:{daemon.journal}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM receipts").fetchone()[0])


class HealthProbe:
    """/healthz asked every 100 ms in a thread; the slowest answer is kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.failures += not ok
                self._stop.wait(0.1)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(70)


def test_many_images_claiming_the_limit_are_refused_before_any_is_decoded(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """500 PNGs of 2048x4096 1-bit pixels compress to 731 KiB of JSON; decoded they are 4 GB.
    The per-receipt pixel total is checked from their headers: a fast 413 and no memory."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    assert daemon.proc is not None
    one = b64(png(2048, 4096))
    body = json.dumps({"document": {"blocks": [{"type": "image", "png": one}] * 500}}).encode()
    assert len(body) < 1024 * 1024
    before = peak_rss_mib(daemon.proc.pid)
    with HealthProbe(daemon.url) as probe:
        started = time.monotonic()
        r = daemon.clients["pos"].post("/v1/printers/front/receipts", content=body,
                                       headers={"Content-Type": "application/json"})
        took = time.monotonic() - started
        time.sleep(0.5)
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large"), r.text[:300]
    assert "image pixels" in r.json()["error"]["message"]
    grown = peak_rss_mib(daemon.proc.pid) - before
    # Decoding even a tenth of them would take 400 MB; checking headers takes next to none.
    assert grown < 150, f"the daemon's memory grew by {grown} MiB for a refused receipt"
    assert took < 5, f"refusing took {took:.1f}s"
    assert probe.failures == 0 and probe.slowest < 5, probe.slowest
    assert journal_count(daemon) == 0


def test_image_receipts_decode_off_the_event_loop_a_few_at_a_time(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """Twenty clients at once, each with one image at the per-receipt limit: all accepted, the
    daemon's memory stays bounded and /healthz keeps answering."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    assert daemon.proc is not None
    image = b64(png(2048, 4096, dots=True))
    answers: list[int] = []

    def submit(i: int) -> None:
        with httpx.Client(base_url=daemon.url, timeout=240,
                          headers={"Authorization": f"Bearer {TOKENS['pos']}"}) as client:
            r = client.post("/v1/printers/front/receipts", json={"document": {"blocks": [
                {"type": "text", "text": f"IMAGE {i}"}, {"type": "image", "png": image},
                {"type": "cut"}]}})
            answers.append(r.status_code)

    before = peak_rss_mib(daemon.proc.pid)
    with HealthProbe(daemon.url) as probe:
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
    assert answers == [202] * 20
    grown = peak_rss_mib(daemon.proc.pid) - before
    # Each decode and scale takes about 50 MB; twenty at once took over 1.5 GB.
    assert grown < 500, f"the daemon's memory grew by {grown} MiB"
    assert probe.failures == 0 and probe.slowest < 10, probe.slowest
    assert journal_count(daemon) == 20


def test_damaged_image_data_is_refused_and_nothing_is_journaled(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """A PNG whose header is fine but whose pixels are not: found when rendering, still
    before the journal, as a 422."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    header = struct.pack(">IIBBBBB", 64, 32, 1, 0, 0, 0, 0)
    damaged = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"not zlib")
               + chunk(b"IEND", b""))
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json={
        "document": {"blocks": [{"type": "image", "png": b64(damaged)}]}})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_document"), r.text
    assert "png" in r.json()["error"]["message"]
    assert journal_count(daemon) == 0
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json={
        "document": {"blocks": [{"type": "image", "png": b64(png(64, 32))}]}})
    assert r.status_code == 202, r.text
