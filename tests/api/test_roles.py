"""Each role sees what it needs, through the real daemon and the emulator: the POS app whether
its receipt prints now (and, on a fault, why not, in its 202), the cashier the printer's hint
and queue, the admin everything; a till reads its own receipts' copies only; every receipt
event names its order; a Prometheus token reads /metrics and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from receiptd.emulator import Emulator

from ..support import DaemonProcess, sample_document

pytestmark = pytest.mark.timeout(120)
Factory = Callable[..., DaemonProcess]


def test_each_role_sees_its_own_view_of_a_printer(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    pos, cashier, admin = (daemon.clients[r] for r in ("pos", "cashier", "admin"))

    mine = pos.get("/v1/printers/front").json()
    assert mine == {"name": "front", "state": "online", "ready": True, "printing_held": False,
                    "queue": {"depth": 0, "held": 0}}
    assert pos.get("/v1/printers").json()["printers"] == [mine]
    theirs = cashier.get("/v1/printers/front").json()
    assert theirs["hint"]["en"] and theirs["hint"]["zh"] and theirs["queue"]["depth"] == 0
    assert "url" not in theirs and "identity" not in theirs and "counters" not in theirs
    assert {"url", "identity", "counters", "history"} <= set(admin.get("/v1/printers/front")
                                                              .json())
    # Paper out: the till learns printing is held; the cashier learns what to do.
    emulator.inject("paper_out")
    daemon.wait_state("paper_out")
    mine = pos.get("/v1/printers/front").json()
    assert mine["state"] == "paper_out" and mine["printing_held"] is True
    theirs = cashier.get("/v1/printers/front").json()
    assert theirs["category"] == "consumable" and "paper" in theirs["hint"]["en"].lower()
    assert pos.get("/v1/printers/back").json()["error"]["code"] == "unknown_printer"


def test_the_202_says_where_the_receipt_is_and_whether_it_waits(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    pos = daemon.clients["pos"]
    r = pos.post("/v1/printers/front/receipts", json={"document": sample_document("LOC-1")})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/receipts/{r.json()['id']}"
    assert r.json()["printer_state"] == "online" and r.json()["warning"] is None
    assert pos.get(r.headers["location"]).json()["id"] == r.json()["id"]

    emulator.inject("paper_out")
    daemon.wait_state("paper_out")
    r = pos.post("/v1/printers/front/receipts", json={"text": "WAITS\n", "order_ref": "W-1",
                                                       "idempotency_key": "w-1"})
    assert r.status_code == 202, r.text
    waiting = r.json()
    assert waiting["state"] == "queued" and waiting["printer_state"] == "paper_out"
    assert "paper out" in waiting["warning"]["en"] and "load a new roll" in waiting["warning"]["en"]
    assert waiting["warning"]["zh"]
    got = pos.get(f"/v1/receipts/{waiting['id']}").json()
    assert got["printer_state"] == "paper_out" and got["held_reason"] is None
    # A replay answers from the journal, with the same Location.
    again = pos.post("/v1/printers/front/receipts",
                     json={"text": "WAITS\n", "order_ref": "W-1", "idempotency_key": "w-1"})
    assert again.status_code == 200 and again.headers["location"] == r.headers["location"]
    emulator.clear("paper_out")
    printed = daemon.wait_printed(waiting["id"])
    assert printed["printer_state"] in ("online", "paper_near_end")


def test_a_till_reads_the_copies_of_its_own_receipts_only(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    own = daemon.submit({"document": sample_document("OWN-1")}, role="pos")
    other = daemon.submit({"document": sample_document("OTHER-1")}, role="cashier")
    pos = daemon.clients["pos"]
    r = pos.get(f"/v1/receipts/{own['id']}/preview", params={"format": "txt"})
    assert r.status_code == 200 and "RECEIPT OWN-1" in r.text
    r = pos.get(f"/v1/receipts/{own['id']}/preview", params={"format": "png"})
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
    r = pos.get(f"/v1/receipts/{other['id']}/preview")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_receipt"
    assert daemon.clients["cashier"].get(f"/v1/receipts/{own['id']}/preview").status_code == 200


def _receipt_events(daemon: DaemonProcess, receipt_id: int) -> list[dict[str, Any]]:
    """Every ``receipt`` event the bus kept for ``receipt_id`` (history from the start)."""
    found: list[dict[str, Any]] = []
    with daemon.clients["pos"].stream("GET", "/v1/events", headers={"Last-Event-ID": "0"},
                                      timeout=httpx.Timeout(10, read=2)) as r:
        kind = ""
        try:
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "receipt":
                    data = json.loads(line[5:])
                    if data["receipt_id"] == receipt_id:
                        found.append(data)
                        if data.get("print_state") == "printed":
                            break
        except httpx.ReadTimeout:
            pass
    return found


def test_every_receipt_event_names_its_order(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    receipt = daemon.submit({"document": sample_document("EV-1"), "order_ref": "EV/7"})
    daemon.wait_printed(receipt["id"])
    events = _receipt_events(daemon, receipt["id"])
    # Queued first; or, handed straight to the idle printer, sending from the start.
    assert [e.get("print_state") for e in events] in (
        ["queued", "sending", "printed"], ["sending", "printed"]), events
    assert events[0]["state"] == {"queued": "queued", "sending": "printing"}[
        events[0]["print_state"]], events
    assert all(e["order_ref"] == "EV/7" for e in events), events


def test_a_metrics_token_reads_metrics_and_nothing_else(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    admin = daemon.clients["admin"]
    r = admin.post("/v1/tokens", json={"name": "prometheus", "role": "metrics"})
    assert r.status_code == 201, r.text
    scraper = httpx.Client(base_url=daemon.url, timeout=10,
                           headers={"Authorization": f"Bearer {r.json()['secret']}"})
    with scraper:
        r = scraper.get("/metrics")
        assert r.status_code == 200 and "receiptd_printer_state" in r.text
        for method, path in (("GET", "/v1/printers"), ("GET", "/v1/receipts/1"),
                             ("GET", "/v1/events"), ("POST", "/v1/printers/front/receipts")):
            r = scraper.request(method, path, json={"text": "x\n"})
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["code"] == "forbidden"
    # A pos or cashier token does not read the shop's counters; the admin still does.
    assert daemon.clients["pos"].get("/metrics").status_code == 403
    assert daemon.clients["cashier"].get("/metrics").status_code == 403
    assert admin.get("/metrics").status_code == 200
    listed = {t["name"]: t["role"] for t in admin.get("/v1/tokens").json()["tokens"]}
    assert listed["prometheus"] == "metrics"
