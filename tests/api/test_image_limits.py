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
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, wait_until

pytestmark = pytest.mark.timeout(240)

#: Seconds a health check may go unanswered before the daemon counts as starved: generous, it
#: says the daemon stopped answering, not how fast it answers (bench/ measures that).
STARVED_S = 30.0


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
    """/healthz asked every 100 ms in a thread. An ask not answered 200 within
    ``STARVED_S`` is a failure: a daemon that stops answering its health check."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=STARVED_S) as client:
            while not self._stop.is_set():
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.answered += ok
                self.failures += not ok
                self._stop.wait(0.1)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(STARVED_S + 10)


def damaged(width: int, height: int) -> bytes:
    """A PNG whose header is true to the PNG format and whose pixel data is not zlib: any
    attempt to decode it fails (422), where reading its header succeeds."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"not zlib")
            + chunk(b"IEND", b""))


def images_body(png_data: bytes, count: int) -> bytes:
    one = b64(png_data)
    return json.dumps({"document": {"blocks": [{"type": "image", "png": one}] * count}}).encode()


def test_many_images_claiming_the_limit_are_refused_before_any_is_decoded(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """500 PNGs of 2048x4096 1-bit pixels compress to 731 KiB of JSON; decoded they are 4 GB.
    The per-receipt pixel total is checked from their headers: a 413 and no memory. The same
    five hundred with pixel data no decoder can read are refused the same way, not as
    damaged (422): not one of them was decoded."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    assert daemon.proc is not None
    body = images_body(png(2048, 4096), 500)
    assert len(body) < 1024 * 1024
    before = peak_rss_mib(daemon.proc.pid)
    with HealthProbe(daemon.url) as probe:
        r = daemon.clients["pos"].post("/v1/printers/front/receipts", content=body,
                                       headers={"Content-Type": "application/json"})
        undecodable = daemon.clients["pos"].post(
            "/v1/printers/front/receipts", content=images_body(damaged(2048, 4096), 500),
            headers={"Content-Type": "application/json"})
        wait_until(lambda: probe.answered >= 3, timeout=STARVED_S, what="/healthz answered")
    for refused in (r, undecodable):
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            413, "too_large"), refused.text[:300]
        assert "image pixels" in refused.json()["error"]["message"]
    grown = peak_rss_mib(daemon.proc.pid) - before
    # Decoding even a tenth of them would take 400 MB; checking headers takes next to none.
    assert grown < 150, f"the daemon's memory grew by {grown} MiB for a refused receipt"
    assert probe.failures == 0, (probe.answered, probe.failures)
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
        answered_before = probe.answered
        for t in threads:
            t.join(240)
        answered_during = probe.answered - answered_before
    assert answers == [202] * 20
    grown = peak_rss_mib(daemon.proc.pid) - before
    # Each decode and scale takes about 50 MB; twenty at once took over 1.5 GB.
    assert grown < 500, f"the daemon's memory grew by {grown} MiB"
    # Answered while the twenty were being decoded, and never left unanswered.
    assert answered_during > 0 and probe.failures == 0, (answered_during, probe.failures)
    assert journal_count(daemon) == 20


def test_damaged_image_data_is_refused_and_nothing_is_journaled(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """A PNG whose header is fine but whose pixels are not: found when rendering, still
    before the journal, as a 422."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json={
        "document": {"blocks": [{"type": "image", "png": b64(damaged(64, 32))}]}})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_document"), r.text
    assert "png" in r.json()["error"]["message"]
    assert journal_count(daemon) == 0
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json={
        "document": {"blocks": [{"type": "image", "png": b64(png(64, 32))}]}})
    assert r.status_code == 202, r.text
