"""Where a receipt came from, through the JSON API: ``X-Receiptd-Source`` on submit (``api``
or ``cups``, nothing else), ``source`` on every receipt, and ``?source=`` on the search."""

from __future__ import annotations

from collections.abc import Callable

from receiptd.emulator import Emulator

from ..support import DaemonProcess


def test_source_header_is_journaled_shown_and_searchable(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    pos = daemon.clients["pos"]
    plain = daemon.submit({"text": "from the API"})
    r = pos.post("/v1/printers/front/receipts", json={"text": "from CUPS"},
                 headers={"X-Receiptd-Source": "cups"})
    assert r.status_code == 202, r.text
    cups = r.json()
    assert plain["source"] == "api" and cups["source"] == "cups"
    assert daemon.receipt(cups["id"])["source"] == "cups"

    def found(source: str) -> list[int]:
        r = daemon.clients["cashier"].get("/v1/receipts", params={"source": source})
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["receipts"]]

    assert found("cups") == [cups["id"]]
    assert found("api") == [plain["id"]]
    assert found("epos") == []


def test_only_api_and_cups_may_be_claimed(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """The virtual port and ePOS-Print are the daemon's own doors: a client of the JSON API
    cannot file its receipt under them. A refused source accepts nothing."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    for source in ("epos", "virtual_port", "CUPS", ""):
        r = daemon.clients["pos"].post("/v1/printers/front/receipts", json={"text": "x"},
                                       headers={"X-Receiptd-Source": source})
        assert r.status_code == 422, (source, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
    r = daemon.clients["cashier"].get("/v1/receipts", params={"source": "fax"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert daemon.clients["cashier"].get("/v1/receipts").json()["receipts"] == []
