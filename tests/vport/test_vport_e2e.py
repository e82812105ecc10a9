"""The virtual printer port end to end: the real daemon (``--virtual-printer front=...:0``),
the emulated printer behind it, and apps on real loopback sockets in front of it, one of them
python-escpos' own ``Network`` printer class, which nobody here wrote.

Where a test proves that something has *not* happened yet (a process ID not answered), the
emulated printer is held in the state that keeps it from happening (out of paper), so no
timing decides the outcome.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiptd.emulator import Emulator
from receiptd.journal import Journal, Receipt

from ..rig import Rig, occurrences, verify
from ..support import DaemonProcess, slips_with, wait_until

H = bytes.fromhex
IDLE_S = 0.3  # the job's idle gap, short so that tests do not wait for the default 2 s


def pid(text: str) -> bytes:
    return H("1d 28 48 06 00 30 30") + text.encode()


def receipt_bytes(tag: str, lines: int = 3) -> bytes:
    """A raw receipt as a POS app sends it: reset, text lines, TOTAL, feed and cut."""
    body = b"".join(f"Item {i}    {i}.00\n".encode() for i in range(lines))
    return (H("1b 40 1b 61 01") + f"RECEIPT {tag}\n".encode() + H("1b 61 00") + body
            + b"TOTAL 3.00\n" + H("1b 64 03 1d 56 00"))


@pytest.fixture
def vport_daemon(daemon_factory: Callable[..., DaemonProcess], emulator: Emulator,
                 tmp_path: Path) -> Iterator[DaemonProcess]:
    emulator.start_tcp()
    config = tmp_path / "vport.toml"
    config.write_text(f"[printers.front]\nvirtual_port_idle_s = {IDLE_S}\n")
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=[
        "--config", str(config), "--virtual-printer", "front=127.0.0.1:0"])
    daemon.wait_state("online")
    yield daemon


class App:
    """A POS app on a raw socket to the virtual port."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.sock = socket.create_connection(daemon.virtual_ports["front"], timeout=10)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, n: int, timeout: float = 10.0) -> bytes:
        self.sock.settimeout(timeout)
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def read_block(self, timeout: float = 10.0) -> bytes:
        """A ``5F ... 00`` / ``37 ... 00`` answer, up to its NUL."""
        out = b""
        while not out.endswith(b"\0"):
            byte = self.read(1, timeout)
            assert byte, f"closed after {out!r}"
            out += byte
        return out

    def nothing_within(self, seconds: float) -> bool:
        """True if nothing arrives (and the connection stays open) for ``seconds``."""
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(16)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def network(daemon: DaemonProcess) -> Any:
    """python-escpos' own network printer, pointed at the virtual port and connected."""
    importlib.import_module("receiptd.render.escpos")  # first: its capabilities cache is private
    from escpos.printer import Network

    host, port = daemon.virtual_ports["front"]
    printer = Network(host, port, timeout=10)
    printer.open()
    return printer


def journaled(daemon: DaemonProcess, n: int = 1) -> list[Receipt]:
    """The virtual-port receipts in the journal (oldest first), once there are ``n``."""

    def found() -> list[Receipt] | None:
        with Journal(daemon.journal, create=False) as journal:
            rows = journal.search.find(source="virtual_port")
        return list(reversed(rows)) if len(rows) >= n else None

    result: list[Receipt] = wait_until(found, timeout=10, what=f"{n} virtual-port receipts")
    return result


def test_python_escpos_network_prints_through_the_virtual_port(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    printer = network(vport_daemon)
    printer.set(align="center", bold=True)
    printer.text("RECEIPT ESCPOS-1\n")
    printer.set(align="left", bold=False)
    printer.text("Espresso      2.40\nTOTAL         2.40\n")
    printer.cut()
    printer.close()
    (receipt,) = journaled(vport_daemon)
    assert receipt.source == "virtual_port" and receipt.kind == "raw"
    assert receipt.source_detail is not None and receipt.source_detail["dropped"] == {}
    vport_daemon.wait_printed(receipt.id)
    (slip,) = slips_with(emulator, "RECEIPT ESCPOS-1")
    texts = [e["text"] for e in slip if e.get("type") == "text"]
    assert "Espresso      2.40" in texts and slip[-1]["type"] == "cut", slip


def test_python_escpos_reads_paper_out_through_the_virtual_port(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    printer = network(vport_daemon)
    assert printer.paper_status() == 2 and printer.is_online()
    emulator.inject("paper_out")
    vport_daemon.wait_state("paper_out")
    assert printer.paper_status() == 0  # what the app's own paper check now sees
    assert not printer.is_online()
    emulator.clear("paper_out")
    vport_daemon.wait_state("online")
    assert printer.paper_status() == 2 and printer.is_online()
    printer.close()
    # Questions only: nothing was journaled, nothing printed.
    with Journal(vport_daemon.journal, create=False) as journal:
        assert journal.search.find(source="virtual_port") == []
    assert emulator.transcript.slips() == [] or not slips_with(emulator, "RECEIPT")


def test_status_questions_are_answered_at_once_as_the_printer_would(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    app = App(vport_daemon)
    app.send(H("10 04 01 10 04 02 10 04 03 10 04 04 1d 72 01"))
    assert app.read(5) == H("12 12 12 12 00")
    app.send(H("1d 61 0f"))  # ASB on: one block now, then one per change
    assert app.read(4) == H("10 00 00 00")
    emulator.inject("cover_open")
    assert app.read(4) == H("38 00 00 00")
    emulator.clear("cover_open")
    assert app.read(4) == H("10 00 00 00")
    model = vport_daemon.printer()["identity"]["model"]
    app.send(H("1d 49 43"))  # GS I 67: the model name, as the printer told the daemon
    assert app.read_block() == b"\x5f" + model.encode() + b"\0"
    app.close()


def test_a_process_id_is_answered_only_once_its_receipt_is_on_paper(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    emulator.inject("paper_out")  # hold the printer: the receipt cannot come out
    vport_daemon.wait_state("paper_out")
    app = App(vport_daemon)
    app.send(receipt_bytes("PID-1") + pid("Q7x!"))
    (receipt,) = journaled(vport_daemon)
    assert receipt.state == "queued"
    assert receipt.source_detail is not None
    assert receipt.source_detail["process_ids"] == ["Q7x!"]
    assert app.nothing_within(1.0)  # journaled, not printed: no answer
    assert not slips_with(emulator, "RECEIPT PID-1")
    emulator.clear("paper_out")
    assert app.read(7, timeout=20) == b"\x37\x22Q7x!\x00"
    assert slips_with(emulator, "RECEIPT PID-1")  # the answer came after the paper
    assert vport_daemon.receipt(receipt.id)["state"] == "printed"
    # The process ID itself never reached the printer: the daemon's own IDs did.
    assert b"Q7x!" not in emulator.transcript.text().encode()
    app.close()


def test_a_process_id_ends_its_job_so_two_receipts_in_one_write_are_two(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    app = App(vport_daemon)
    app.send(receipt_bytes("TWO-1") + pid("id-1") + receipt_bytes("TWO-2") + pid("id-2"))
    assert app.read(14, timeout=20) == b"\x37\x22id-1\x00\x37\x22id-2\x00"
    first, second = journaled(vport_daemon, 2)
    assert first.state == second.state == "printed"
    assert len(slips_with(emulator, "RECEIPT TWO-1")) == len(slips_with(emulator, "TWO-2")) == 1
    app.close()


def test_forbidden_commands_are_dropped_and_recorded(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    app = App(vport_daemon)
    forbidden = (H("1d 28 45 03 00 01 49 4e")  # user-setting mode
                 + H("10 14 02 01 08")  # power off
                 + H("1b 3d 00")  # deselect the printer
                 + H("1d 28 6b 03 00 31 52 30"))  # transmit the QR size
    data = receipt_bytes("DROP-1")
    app.send(data[:12] + forbidden + data[12:])
    app.close()
    (receipt,) = journaled(vport_daemon)
    assert receipt.source_detail is not None
    assert receipt.source_detail["dropped"] == {
        "GS ( E fn 1": 1, "DLE DC4 2": 1, "ESC =": 1, "GS ( k fn 82": 1}
    # The cashier and the admin see the same through the API.
    shown = vport_daemon.receipt(receipt.id)
    assert (shown["source"], shown["source_detail"]["dropped"]) == (
        "virtual_port", receipt.source_detail["dropped"])
    vport_daemon.wait_printed(receipt.id)
    assert len(slips_with(emulator, "RECEIPT DROP-1")) == 1
    state = vport_daemon.printer()["state"]
    assert state == "online", state  # still on, still selected, not in user-setting mode


def test_a_resend_within_the_window_is_journaled_not_printed(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    job = receipt_bytes("RESEND-1")
    first = App(vport_daemon)
    first.send(job + pid("one "))
    first.sock.shutdown(socket.SHUT_WR)  # the job ends at the close; the app still reads
    assert first.read(7, timeout=20) == b"\x37\x22one \x00"  # printed, confirmed
    first.close()
    again = App(vport_daemon)  # the app reconnects and sends it all again, new process ID
    again.send(job + pid("two "))
    # The resend's process ID is answered at once: what it resends is on paper.
    assert again.read(7, timeout=20) == b"\x37\x22two \x00"
    again.close()
    original, resend = journaled(vport_daemon, 2)
    assert resend.source_detail is not None
    assert resend.source_detail["resend_of"] == original.id
    assert resend.state == "failed" and resend.prints[0].state == "failed"
    emulator.wait_idle(10)
    assert len(slips_with(emulator, "RECEIPT RESEND-1")) == 1
    # A cashier can still print it, marked, from the journal.
    r = vport_daemon.clients["cashier"].post(f"/v1/receipts/{resend.id}/reprint")
    assert r.status_code == 202, r.text


def test_sigkill_mid_virtual_port_job_loses_nothing_and_marks_the_reprint(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    started: list[bool] = []

    def watch(entry: dict[str, Any]) -> None:
        if entry.get("type") == "text" and "RECEIPT VKILL-1" in entry.get("text", ""):
            started.append(True)

    emulator.subscribe(watch)
    emulator.inject("slow", mm_per_s=5.0)  # the slip takes many seconds to come out
    app = App(vport_daemon)
    app.send(receipt_bytes("VKILL-1", lines=6) + pid("kill"))
    (receipt,) = journaled(vport_daemon)
    wait_until(lambda: started, timeout=20, what="the receipt on paper")
    assert vport_daemon.receipt(receipt.id)["state"] == "printing"
    vport_daemon.kill()
    app.close()  # the daemon is gone: no answer ever came, and none will
    emulator.clear("slow")
    vport_daemon.start()
    verify(Rig(emulator, vport_daemon, "tcp"), {"VKILL-1": receipt.id}, "sigkill vport job")
    seen = [o for o in occurrences(emulator) if o[0] == "VKILL-1"]
    assert any(marked and whole for _, marked, whole in seen), seen
    prints = vport_daemon.receipt(receipt.id)["prints"]
    assert [p["kind"] for p in prints] == ["original", "interrupted_retry"], prints


def test_a_job_that_cannot_print_is_refused_with_its_code_and_the_connection_closed(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    app = App(vport_daemon)
    app.send(receipt_bytes("BAD-1") + H("1b 99 00") + b"more\n")  # ESC 99: no such command
    assert app.read(1, timeout=10) == b""  # closed: AppSocket has no other way to say no
    app.close()
    wait_until(lambda: '"code": "raw_unknown_command"' in vport_daemon.log(), timeout=10,
               what="the refusal logged with its code")
    with Journal(vport_daemon.journal, create=False) as journal:
        assert journal.search.find(source="virtual_port") == []
    # The port still serves the next job.
    ok = App(vport_daemon)
    ok.send(receipt_bytes("GOOD-1"))
    ok.close()
    vport_daemon.wait_printed(journaled(vport_daemon)[0].id)


def test_a_printer_receiptd_cannot_reach_is_answered_offline(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    emulator.inject("silent")  # the printer stops answering at all
    vport_daemon.wait_state("offline")
    app = App(vport_daemon)
    app.send(H("10 04 01 10 04 04"))
    assert app.read(2) == H("1a 12")  # offline; paper as last known
    app.close()


def test_connections_past_the_limit_are_closed(vport_daemon: DaemonProcess) -> None:
    from receiptd.vport.server import MAX_CONNECTIONS

    apps = [App(vport_daemon) for _ in range(MAX_CONNECTIONS)]
    try:
        for app in apps:  # each one answered: each one holds its place
            app.send(H("10 04 01"))
            assert app.read(1) == H("12")
        extra = App(vport_daemon)
        assert extra.read(1) == b""
        extra.close()
        wait_until(lambda: '"code": "too_many_connections"' in vport_daemon.log(), timeout=10,
                   what="the refusal logged")
    finally:
        for app in apps:
            app.close()

    def answered() -> bool:  # places are free again once the server has seen the closes
        again = App(vport_daemon)
        try:
            again.send(H("10 04 01"))
            return again.read(1) == H("12")
        except OSError:
            return False
        finally:
            again.close()

    wait_until(answered, timeout=10, what="a free place after the closes")


def test_sigterm_closes_the_port_and_journals_no_job_still_arriving(
    vport_daemon: DaemonProcess, emulator: Emulator
) -> None:
    listening = App(vport_daemon)
    listening.send(H("1d 61 0f"))  # ASB on: a connection that stays open
    assert listening.read(4) == H("10 00 00 00")
    sending = App(vport_daemon)
    sending.send(b"RECEIPT HALF-1\nItem 0    0.00\n")  # no close, no gap yet: still arriving
    sending.send(H("10 04 01"))
    assert sending.read(1) == H("12")  # the port has read the bytes in front of the question
    assert vport_daemon.terminate() == 0
    assert listening.read(1) == b"" and sending.read(1) == b""  # both closed
    assert '"event": "vport_job_dropped_at_stop"' in vport_daemon.log()
    with Journal(vport_daemon.journal, create=False) as journal:
        assert journal.search.find(source="virtual_port") == []
    listening.close()
    sending.close()


def test_a_job_over_the_size_limit_is_refused(vport_daemon: DaemonProcess) -> None:
    from receiptd.vport.server import MAX_RAW_BYTES

    app = App(vport_daemon)
    try:
        app.send(b"A" * 1000 + b"\n" + b"B" * MAX_RAW_BYTES)
        closed = app.read(1, timeout=10) == b""
    except OSError:  # the port closed while the app was still writing
        closed = True
    assert closed
    app.close()
    wait_until(lambda: '"code": "too_large"' in vport_daemon.log(), timeout=10,
               what="the refusal logged with its code")
    with Journal(vport_daemon.journal, create=False) as journal:
        assert journal.search.find(source="virtual_port") == []
