"""The main path end to end: the real daemon process, over HTTP, against the emulated printer.

Each transport is a real one: a TCP socket, a pseudo-terminal, and the USB link through the
fake pyusb backend bridged to the emulator.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiptd.emulator import Emulator
from receiptd.testing import fakeusb

from ..support import TOKENS, DaemonProcess, is_marked, sample_document, slips_with, wait_until


def _roundtrip(daemon: DaemonProcess, emu: Emulator, tag: str) -> None:
    receipt = daemon.submit({"document": sample_document(tag), "order_ref": f"O-{tag}"})
    # Queued; or, the printer idle and ready, handed straight to its spooler (handoff).
    assert (receipt["state"], receipt["prints"][0]["state"]) in (
        ("queued", "queued"), ("printing", "sending"))
    done = daemon.wait_printed(receipt["id"])
    assert [p["state"] for p in done["prints"]] == ["printed"]
    assert done["prints"][0]["confirmation"] == "process_id"
    slips = slips_with(emu, f"RECEIPT {tag}")
    assert len(slips) == 1 and not is_marked(slips[0])
    texts = [e["text"] for e in slips[0] if e.get("type") == "text"]
    assert any("Item 3" in t and t.rstrip().endswith("3.00") for t in texts)
    assert slips[0][-1]["type"] == "cut"


def test_tcp_printer(emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    _roundtrip(daemon, emulator, "TCP-1")
    health = daemon.printer()
    assert health["state"] == "online" and health["link"] == "tcp"
    assert health["identity"]["maker"] == "EPSON"


def test_serial_printer_on_a_pty(emulator: Emulator,
                                 daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_pty()
    daemon = daemon_factory({"front": emulator.serial_url})
    _roundtrip(daemon, emulator, "PTY-1")
    assert daemon.printer()["link"] == "serial"


def test_usb_printer_through_the_fake_backend(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    port = emulator.start_tcp()
    state = tmp_path / "usb-state"
    env = {"RECEIPTD_USB_BACKEND": "receiptd.testing.fakeusb:get_backend",
           "RECEIPTD_FAKEUSB_TARGET": f"127.0.0.1:{port}", "RECEIPTD_FAKEUSB_STATE": str(state)}
    daemon = daemon_factory({"front": "usb://04b8:0e28"}, extra_env=env)
    _roundtrip(daemon, emulator, "USB-1")
    assert daemon.printer()["link"] == "usb"
    fakeusb.unplug(str(state))
    daemon.wait_state("offline")
    fakeusb.replug(str(state))
    daemon.wait_state("online")
    _roundtrip(daemon, emulator, "USB-2")


def test_printed_only_after_the_printer_returns_the_process_id(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    # 10 mm into the receipt the head crawls: every byte is in the printer, the paper is not out.
    emulator.arm("slow", after_mm=10, mm_per_s=0.2)
    receipt = daemon.submit({"document": sample_document("SLOW", lines=16)})
    emulator.wait(lambda e: "slow" in e.transcript.events(), timeout=20)
    slips = slips_with(emulator, "RECEIPT SLOW")
    assert len(slips) == 1 and slips[0][-1]["type"] != "cut"
    assert daemon.receipt(receipt["id"])["state"] == "printing"

    cut_when_printed: list[bool] = []

    def printed() -> bool:
        if daemon.receipt(receipt["id"])["state"] != "printed":
            return False
        slips = slips_with(emulator, "RECEIPT SLOW")
        cut_when_printed.append(bool(slips) and slips[0][-1]["type"] == "cut")
        return True

    emulator.clear("slow")
    wait_until(printed, timeout=20, interval=0.01, what="printed")
    assert cut_when_printed == [True], "marked printed before the paper came out"


def test_idempotency_key_prints_nothing_new(emulator: Emulator,
                                            daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    body = {"document": sample_document("IDEM"), "idempotency_key": "till-1/0001"}
    first = daemon.submit(body)
    daemon.wait_printed(first["id"])
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json=body)
    assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true"
    assert r.json()["id"] == first["id"]
    other = {**body, "document": sample_document("IDEM-OTHER")}
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json=other)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict"
    # A receipt submitted after them prints after anything they could have queued (FIFO).
    daemon.wait_printed(daemon.submit({"document": sample_document("AFTER-IDEM")})["id"])
    assert len(slips_with(emulator, "RECEIPT IDEM")) == 1
    assert slips_with(emulator, "RECEIPT IDEM-OTHER") == []


def test_reprint_is_a_marked_copy(emulator: Emulator,
                                  daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    receipt = daemon.submit({"document": sample_document("COPYME")})
    daemon.wait_printed(receipt["id"])
    r = daemon.clients["cashier"].post(f"/v1/receipts/{receipt['id']}/reprint",
                                       json={"reason": "customer lost it"})
    assert r.status_code == 202
    job = r.json()["print"]
    assert job["kind"] == "reprint" and job["copy_number"] == 1
    assert job["requested_by"].startswith("cashier")
    wait_until(lambda: daemon.receipt(receipt["id"])["copies"] == 1, what="copy printed")
    slips = slips_with(emulator, "RECEIPT COPYME")
    assert [is_marked(s) for s in slips] == [False, True]
    marker = next(e["text"] for e in slips[1] if "COPY" in e.get("text", ""))
    assert "COPY 1" in marker and "original printed" in marker


def test_unreachable_printer_keeps_the_receipt_queued(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    port = emulator.start_tcp()
    emulator.stop()  # nothing listens there any more
    daemon = daemon_factory({"front": f"tcp://127.0.0.1:{port}"})
    daemon.wait_state("offline")
    receipt = daemon.submit({"text": "waiting for a printer\n"})
    time.sleep(1.0)
    assert daemon.receipt(receipt["id"])["state"] == "queued"
    health = daemon.printer()
    assert health["queue"]["depth"] == 1 and health["category"] == "connection"
    assert health["last_error"]


BAD_REQUESTS: list[tuple[str, str, str, dict[str, str], Any, int, str]] = [
    # (name, method, path, headers, body, status, code)
    ("malformed json", "POST", "/v1/printers/front/receipts",
     {"Content-Type": "application/json"}, b'{"document": ', 400, "malformed_json"),
    ("unknown block", "POST", "/v1/printers/front/receipts", {},
     {"document": {"blocks": [{"type": "hologram"}]}}, 422, "invalid_document"),
    ("two contents", "POST", "/v1/printers/front/receipts", {},
     {"text": "a", "raw": "Gw=="}, 422, "invalid_request"),
    ("unknown printer", "POST", "/v1/printers/nope/receipts", {}, {"text": "x"}, 404,
     "unknown_printer"),
    ("no token", "POST", "/v1/printers/front/receipts", {"Authorization": ""},
     {"text": "x"}, 401, "unauthorized"),
    ("wrong token", "POST", "/v1/printers/front/receipts", {"Authorization": "Bearer nope"},
     {"text": "x"}, 401, "unauthorized"),
    ("pos may not search", "GET", "/v1/receipts", {}, None, 403, "forbidden"),
    ("oversized body", "POST", "/v1/printers/front/receipts",
     {"Content-Type": "application/json"},
     json.dumps({"text": "x" * (5 * 1024 * 1024)}).encode(), 413, "too_large"),
    ("forbidden raw", "POST", "/v1/printers/front/receipts", {},
     {"raw": base64.b64encode(b"\x10\x14\x02\x01\x08").decode()}, 422, "raw_forbidden_command"),
    ("unknown receipt", "GET", "/v1/receipts/999999", {}, None, 404, "not_found"),
    ("unknown route", "GET", "/v1/nothing-here", {}, None, 404, "not_found"),
]


def test_bad_requests_get_stable_errors_and_disturb_nothing(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    emulator.inject("paper_out")  # hold the queue so the bad requests meet a waiting receipt
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("paper_out")
    held = daemon.submit({"document": sample_document("HELD")})
    client = httpx.Client(base_url=daemon.url, timeout=10)
    for name, method, path, headers, body, status, code in BAD_REQUESTS:
        hdrs = {"Authorization": f"Bearer {TOKENS['pos']}", **headers}
        hdrs = {k: v for k, v in hdrs.items() if v}
        kw: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        r = client.request(method, path, headers=hdrs, **(kw if body is not None else {}))
        assert r.status_code == status, (name, r.status_code, r.text[:300])
        assert r.json()["error"]["code"] == code, (name, r.json())
        assert r.json()["error"]["message"], name
    listing = daemon.clients["cashier"].get("/v1/receipts").json()["receipts"]
    assert [r["id"] for r in listing] == [held["id"]], "a rejected request reached the journal"
    emulator.clear("paper_out")
    daemon.wait_printed(held["id"])
    assert len(slips_with(emulator, "RECEIPT HELD")) == 1


@pytest.mark.parametrize("role", ["pos", "cashier", "admin"])
def test_openapi_document_is_published(emulator: Emulator, role: str,
                                       daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    spec = daemon.clients[role].get("/v1/openapi.json").json()
    assert "/v1/printers/{printer}/receipts" in spec["paths"]
    assert spec["info"]["title"] == "receiptd"
