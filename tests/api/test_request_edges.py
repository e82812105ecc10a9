"""Requests at the edges, against the real daemon: bodies that are not JSON in unusual ways,
order references with a "/", and, in open mode (no token), the requests a web page could make
the POS terminal's browser send."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from receiptd.emulator import Emulator

from ..support import DaemonProcess, sample_document

pytestmark = pytest.mark.timeout(180)


def journal_count(daemon: DaemonProcess) -> int:
    with sqlite3.connect(f"file:{daemon.journal}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM receipts").fetchone()[0])


def test_bodies_json_cannot_read_are_malformed_json(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    bodies = {
        "nested deeper than the parser goes": b'{"text": ' + b"[" * 100_000 + b"]" * 100_000
                                              + b"}",
        "not UTF-8": b'{"text": "caf\xe9"}',
        "a lone continuation byte": b'{"text": "\x80"}',
        "cut short": b'{"text": "x"',
    }
    for what, body in bodies.items():
        r = daemon.clients["pos"].post("/v1/printers/front/receipts", content=body,
                                       headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (what, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "malformed_json", (what, r.text[:200])
    r = daemon.clients["cashier"].post("/v1/receipts/1/reprint", content=b"[" * 50_000,
                                       headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "malformed_json"), r.text[:200]
    assert journal_count(daemon) == 0


def test_an_order_ref_with_a_slash_can_be_looked_up_and_reprinted(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    ref = "2026/11/A-17"
    receipt = daemon.submit({"document": sample_document("SLASH"), "order_ref": ref})
    daemon.wait_printed(receipt["id"])
    quoted = "2026%2F11%2FA-17"
    r = daemon.clients["pos"].get(f"/v1/orders/{quoted}")
    assert r.status_code == 200, r.text
    assert r.json()["order_ref"] == ref and r.json()["printed"] is True
    assert [x["id"] for x in r.json()["receipts"]] == [receipt["id"]]
    r = daemon.clients["cashier"].post(f"/v1/orders/{quoted}/reprint", json={"reason": "lost"})
    assert r.status_code == 202, r.text
    assert r.json()["receipt"]["id"] == receipt["id"]
    # An order whose reference ends like the reprint route is still an order to look up.
    r = daemon.clients["pos"].get("/v1/orders/x%2Freprint")
    assert (r.status_code, r.json()["printed"]) == (200, False), r.text


class OpenDaemon(DaemonProcess):
    """The daemon with no token at all: every caller is admin until the first token."""

    def args(self) -> list[str]:
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
                str(self.journal), "--listen", f"127.0.0.1:{self.port}", "--log-format", "json"]
        for name, url in self.printers.items():
            args += ["--printer", f"{name}={url}"]
        return args + self.extra_args


def test_open_mode_refuses_what_a_web_page_could_send(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Without tokens, any page in the terminal's browser could POST a reprint (cross-site),
    or rebind its own name to 127.0.0.1 and read the journal as a same-origin page."""
    emulator.start_tcp()
    daemon = OpenDaemon(tmp_path, {"front": emulator.tcp_url})
    try:
        daemon.start()
        url = daemon.url
        assert httpx.post(f"{url}/v1/printers/front/receipts",
                          json={"document": sample_document("OPEN")}).status_code == 202
        reprint = f"{url}/v1/printers/front/reprint-last"
        cross_site = [
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"},
        ]
        for headers in cross_site:
            r = httpx.post(reprint, headers=headers)
            assert r.status_code == 403, (headers, r.status_code, r.text)
            assert r.json()["error"]["code"] == "cross_site_request", r.text
        # DNS rebinding: the page's own name now points at 127.0.0.1.
        port = url.rsplit(":", 1)[1]
        for host in (f"evil.example:{port}", f"receipts.attacker.test:{port}"):
            r = httpx.get(f"{url}/v1/tokens", headers={"Host": host})
            assert r.status_code == 403, (host, r.status_code, r.text)
            assert r.json()["error"]["code"] == "host_not_allowed", r.text
        # What the terminal itself sends still works: same origin, by IP or localhost.
        same = {"Origin": url, "Sec-Fetch-Site": "same-origin"}
        assert httpx.post(reprint, headers=same).status_code == 202
        assert httpx.post(reprint).status_code == 202
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            assert httpx.get(f"{url}/v1/tokens", headers={"Host": host}).status_code == 200
        # Once a token exists the API is closed: a name in Host is no longer a risk.
        r = httpx.post(f"{url}/v1/tokens", json={"name": "boss", "role": "admin"})
        assert r.status_code == 201, r.text
        token = {"Authorization": f"Bearer {r.json()['secret']}"}
        r = httpx.get(f"{url}/v1/tokens", headers={**token, "Host": f"pos-box.lan:{port}"})
        assert r.status_code == 200, r.text
        r = httpx.post(reprint, headers={**token, "Origin": "https://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
    finally:
        daemon.close()
