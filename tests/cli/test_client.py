"""The typed Python client (``receiptd.client``) against the real daemon and the emulator, as a
POS app would use it; and ``receiptctl`` showing a cashier what a pos or cashier token sees."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from receiptd.client import ApiError, Client, Event
from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document, slips_with

pytestmark = pytest.mark.timeout(120)
Factory = Callable[..., DaemonProcess]


def test_a_pos_app_prints_waits_and_reads_back_with_the_typed_client(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    with Client(daemon.url, TOKENS["pos"]) as rd, Client(daemon.url, TOKENS["cashier"]) as desk:
        receipt = rd.submit("front", document=sample_document("TYPED-1"), order_ref="T/1",
                            idempotency_key="typed-1")
        assert receipt["state"] in ("queued", "printing")  # printing: the printer was idle
        assert receipt["order_ref"] == "T/1"
        done = rd.wait_printed(receipt["id"], timeout=30)
        assert done["state"] == "printed" and done["printer_state"] == "online"
        assert rd.submit("front", document=sample_document("TYPED-1"), order_ref="T/1",
                         idempotency_key="typed-1")["id"] == receipt["id"]  # a replay
        assert len(slips_with(emulator, "TYPED-1")) == 1
        assert rd.order("T/1")["printed"] is True
        assert b"RECEIPT TYPED-1" in rd.preview(receipt["id"])
        assert rd.printer("front")["ready"] is True

        raw = rd.submit("front", raw=b"RAW TYPED\n\x1dV\x00")
        assert raw["kind"] == "raw"
        # Errors carry the API's stable code.
        with pytest.raises(ApiError) as err:
            rd.submit("nowhere", text="x\n")
        assert err.value.code == "unknown_printer" and err.value.status == 404
        with pytest.raises(ApiError) as err:
            rd.receipts()
        assert err.value.code == "forbidden" and err.value.status == 403
        with pytest.raises(ApiError) as err:
            desk.reprint(rd.submit("front", text="later\n", order_ref="T-2")["id"] + 1000)
        assert err.value.code == "not_found"

        copy = desk.reprint_order("T/1", reason="lost")
        assert copy["print"]["kind"] == "reprint" and copy["print"]["copy_number"] == 1
        assert desk.receipts(order_ref="T/1")["receipts"][0]["id"] == receipt["id"]
        assert desk.held()["receipts"] == []

        events: list[Event] = []
        for event in rd.events(last_event_id=0):  # the bus's history, then live
            events.append(event)
            if event["type"] == "receipt" and event["data"]["receipt_id"] == raw["id"] \
                    and event["data"].get("print_state") == "printed":
                break
        assert all(e["id"] is not None for e in events)
        mine = [e["data"] for e in events if e["type"] == "receipt"
                and e["data"]["receipt_id"] == receipt["id"]]
        assert mine and all(d["order_ref"] == "T/1" for d in mine)

    with Client(f"http://127.0.0.1:{_closed_port()}", TOKENS["pos"], timeout=2) as gone, \
            pytest.raises(ApiError) as err:
        gone.receipt(1)
    assert err.value.code == "unreachable" and err.value.status == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ctl(daemon: DaemonProcess, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiptd.cli.ctl", "--url", daemon.url, "--token",
         TOKENS[role], *args], capture_output=True, text=True, timeout=30, env=daemon.env)


def test_receiptctl_shows_each_role_the_printer_and_why_a_receipt_waits(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    emulator.inject("paper_out")
    daemon.wait_state("paper_out")
    waiting = daemon.submit({"text": "WAITING\n"})

    out = ctl(daemon, "cashier", "printers")  # was 403 for a cashier
    assert out.returncode == 0, out.stderr
    assert "paper_out" in out.stdout and "load a new roll" in out.stdout
    out = ctl(daemon, "pos", "printers")
    assert out.returncode == 0 and "printing held" in out.stdout, out.stderr
    out = ctl(daemon, "pos", "show", str(waiting["id"]))
    assert out.returncode == 0 and "printer front: paper_out" in out.stdout, out.stdout
    out = ctl(daemon, "cashier", "held")
    assert out.returncode == 0 and "no receipt waits" in out.stdout, out.stdout
    emulator.clear("paper_out")
    daemon.wait_printed(waiting["id"])
