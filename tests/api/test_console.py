"""The console's own read routes against the real daemon: the cashier's search by text and
time (``/v1/console/receipts``) and the per-printer view of what waits (``/v1/console/till``).
The pages that use them are tested in a browser under ``tests/console``."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx

from receiptd.emulator import Emulator

from ..support import DaemonProcess, sample_document


def ids(r: httpx.Response) -> list[int]:
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["receipts"]]


def test_search_by_text_order_ref_and_time(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    doc = sample_document("FLAT WHITE")
    doc["blocks"].append({"type": "row", "left": "Croissant", "right": "12.34"})
    a = daemon.submit({"document": doc, "order_ref": "A-1"})
    b = daemon.submit({"text": "Tea 3.20\nTOTAL 3.20\n", "order_ref": "B-2"})
    c = daemon.submit({"raw": base64.b64encode(b"Croissant 12.34\n").decode(), "order_ref": "C"})
    test_print = daemon.clients["admin"].post(
        "/v1/printers/front/receipts", headers={"X-Receiptd-Source": "doctor"},
        json={"text": "receiptd test print 12.34\n"})
    assert test_print.status_code == 202, test_print.text
    for r in (a, b, c, test_print.json()):
        daemon.wait_printed(r["id"])
    cashier = daemon.clients["cashier"]
    find = "/v1/console/receipts"
    # Newest first, and doctor's test print is no sale: not in the cashier's list.
    assert ids(cashier.get(find)) == [c["id"], b["id"], a["id"]]
    # Text anywhere in a document or a plain-text receipt, case-insensitive; raw bytes are
    # not read as text.
    assert ids(cashier.get(find, params={"q": "12.34"})) == [a["id"]]
    assert ids(cashier.get(find, params={"q": "croissant"})) == [a["id"]]
    assert ids(cashier.get(find, params={"q": "tea 3.2"})) == [b["id"]]
    assert ids(cashier.get(find, params={"q": "no such thing"})) == []
    assert ids(cashier.get(find, params={"order_ref": "B-2"})) == [b["id"]]
    assert ids(cashier.get(find, params={"order_ref": "B-2", "q": "croissant"})) == []
    # A time window: since inclusive, until exclusive, like the API's search.
    created = [daemon.receipt(x["id"])["created_at"] for x in (a, b, c)]
    assert ids(cashier.get(find, params={"since": created[1]})) == [c["id"], b["id"]]
    assert ids(cashier.get(find, params={"until": created[1]})) == [a["id"]]
    r = cashier.get(find, params={"since": "12"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = cashier.get(find, params={"q": "x" * 201})
    assert r.status_code in (413, 422), r.text


def test_till_says_what_waits_on_a_printer_in_trouble_and_why(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    cashier = daemon.clients["cashier"]
    front: dict[str, Any] = cashier.get("/v1/console/till").json()["printers"][0]
    assert front["name"] == "front" and front["state"] == "online"
    assert front["waiting"] == [] and front["held"] == []
    emulator.inject("paper_out")
    daemon.wait_state("paper_out")
    r = daemon.submit({"document": sample_document("WAIT"), "order_ref": "W-1"})
    front = cashier.get("/v1/console/till").json()["printers"][0]
    assert front["state"] == "paper_out" and front["category"] == "consumable"
    assert front["hint"]["en"].startswith("Paper is out") and front["hint"]["zh"]
    assert [(w["id"], w["order_ref"]) for w in front["waiting"]] == [(r["id"], "W-1")]
    assert front["queue"]["depth"] == 1
    emulator.clear("paper_out")
    daemon.wait_printed(r["id"])
    assert cashier.get("/v1/console/till").json()["printers"][0]["waiting"] == []
