"""The USB link through the fake pyusb backend, bridged to a loopback TCP "printer"."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import usb.core

from receiptd.errors import ConfigError, LinkClosed, LinkError, LinkTimeout
from receiptd.links import link_for_url
from receiptd.links.usb import UsbLink
from receiptd.testing import fakeusb

from .link_helpers import FOREVER_S, GENEROUS_S, returned

URL = "usb://04b8:0e28?serial=FAKE0001"


class EchoPrinter:
    """Accepts connections and echoes every byte back; counts connections."""

    def __init__(self, rcvbuf: int | None = None, echo: bool = True) -> None:
        self.srv = socket.socket()
        if rcvbuf is not None:
            self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.echo = echo
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.srv.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.echo:
                threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.srv.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "fakeusb.state"


@pytest.fixture
def printer(monkeypatch: pytest.MonkeyPatch, state: Path) -> Iterator[EchoPrinter]:
    stub = EchoPrinter()
    monkeypatch.setenv("RECEIPTD_USB_BACKEND", "receiptd.testing.fakeusb:get_backend")
    monkeypatch.setenv("RECEIPTD_FAKEUSB_TARGET", stub.address)
    monkeypatch.setenv("RECEIPTD_FAKEUSB_STATE", str(state))
    yield stub
    stub.close()


@pytest.fixture
def link(printer: EchoPrinter) -> Iterator[UsbLink]:
    made = link_for_url(URL)
    assert isinstance(made, UsbLink)
    made.open()
    yield made
    made.close()


def _wait_for(predicate: Callable[[], object], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_fake_device_looks_like_a_usb_printer(printer: EchoPrinter) -> None:
    dev = usb.core.find(idVendor=0x04B8, idProduct=0x0E28, backend=fakeusb.get_backend())
    assert dev is not None
    assert (dev.manufacturer, dev.serial_number) == ("EPSON", "FAKE0001")
    intf = dev.get_active_configuration()[(0, 0)]
    assert intf.bInterfaceClass == 7
    assert sorted(ep.bEndpointAddress for ep in intf) == [0x01, 0x82]
    device_id = bytes(dev.ctrl_transfer(0xA1, 0x00, 0, 0, 1024))
    assert int.from_bytes(device_id[:2], "big") == len(device_id)
    assert b"CMD:ESC/POS;" in device_id
    with pytest.raises(usb.core.USBTimeoutError) as info:  # same shape as libusb1's timeout
        dev.read(0x82, 64, 50)
    assert info.value.errno == errno.ETIMEDOUT and info.value.backend_error_code == -7
    usb.util.dispose_resources(dev)


def test_write_and_read(link: UsbLink, printer: EchoPrinter) -> None:
    link.write(b"\x10\x04\x01", timeout=1.0)
    got = b""
    while len(got) < 3:
        got += link.read(1.0)
    assert got == b"\x10\x04\x01"
    assert len(printer.connections) == 1
    assert link.port_status() == 0x18


def test_read_returns_early_and_times_out(link: UsbLink, printer: EchoPrinter) -> None:
    start = time.monotonic()
    assert returned(lambda: link.read(0.2)) == b""
    assert time.monotonic() - start > 0.15  # it waited its timeout out
    _wait_for(lambda: printer.connections)
    threading.Timer(0.1, printer.connections[0].sendall, args=(b"\x12",)).start()
    assert returned(lambda: link.read(FOREVER_S)) == b"\x12"  # not its timeout


def test_write_timeout_reports_written(monkeypatch: pytest.MonkeyPatch, state: Path) -> None:
    stub = EchoPrinter(rcvbuf=4096, echo=False)  # never reads: a printer stuck at paper end
    monkeypatch.setenv("RECEIPTD_USB_BACKEND", "receiptd.testing.fakeusb:get_backend")
    monkeypatch.setenv("RECEIPTD_FAKEUSB_TARGET", stub.address)
    monkeypatch.setenv("RECEIPTD_FAKEUSB_STATE", str(state))
    link = UsbLink(0x04B8, 0x0E28, backend=fakeusb.get_backend())
    link.open()
    data = b"x" * (32 * 1024 * 1024)
    with pytest.raises(LinkTimeout) as info:  # not a write blocked for good
        returned(lambda: link.write(data, timeout=0.5))
    assert 0 < info.value.written < len(data)
    link.close()
    stub.close()


def test_unplug_and_replug(link: UsbLink, printer: EchoPrinter, state: Path) -> None:
    link.write(b"a", 1.0)
    assert link.read(1.0) == b"a"
    fakeusb.unplug(state)
    assert not link.present()
    with pytest.raises(LinkClosed):
        link.read(1.0)
    with pytest.raises(LinkClosed):
        link.write(b"b", 1.0)
    link.close()
    with pytest.raises(LinkClosed):
        link.open()

    fakeusb.replug(state)
    assert link.present()
    link.open()
    link.write(b"c", 1.0)
    assert link.read(1.0) == b"c"
    assert len(printer.connections) == 2  # re-enumerated: a new connection to the printer


def test_quick_replug_still_kills_old_handle(link: UsbLink, state: Path) -> None:
    link.write(b"a", 1.0)
    fakeusb.unplug(state)
    fakeusb.replug(state)  # the link never saw "unplugged"
    with pytest.raises(LinkClosed):
        link.write(b"b", 1.0)
    link.close()
    link.open()
    link.write(b"c", 1.0)


def test_printer_behind_bridge_goes_away(link: UsbLink, printer: EchoPrinter) -> None:
    link.write(b"a", 1.0)
    assert link.read(1.0) == b"a"
    printer.connections[0].shutdown(socket.SHUT_RDWR)  # FIN, and wakes the echo thread
    with pytest.raises(LinkClosed):
        link.read(1.0)


def test_absent_device(printer: EchoPrinter, state: Path) -> None:
    for url in ("usb://04b8:0e28?serial=OTHER", "usb://04b8:0202"):
        other = link_for_url(url)
        assert not other.present()
        with pytest.raises(LinkClosed):
            other.open()
    fakeusb.unplug(state)
    with pytest.raises(LinkClosed):
        link_for_url(URL).open()


def test_no_such_interface(printer: EchoPrinter) -> None:
    link = link_for_url(URL + "&interface=1")
    with pytest.raises(LinkError) as info:
        link.open()
    assert not isinstance(info.value, LinkClosed)


def test_close_wakes_reader_and_is_idempotent(link: UsbLink) -> None:
    errors: list[Exception] = []

    def reader() -> None:
        try:
            link.read(FOREVER_S)
        except LinkError as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.1)
    link.close()
    thread.join(GENEROUS_S)  # woken by the close, not by its timeout
    assert not thread.is_alive() and isinstance(errors[0], LinkClosed)
    link.close()


def test_bad_backend_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECEIPTD_USB_BACKEND", "receiptd.testing.fakeusb:nope")
    with pytest.raises(ConfigError, match="RECEIPTD_USB_BACKEND"):
        link_for_url(URL)  # at configuration time, not when the printer thread connects


def test_state_file_works_across_processes(printer: EchoPrinter, state: Path) -> None:
    probe = (
        "import usb.core; from receiptd.testing import fakeusb; "
        "print(usb.core.find(idVendor=0x04b8, backend=fakeusb.get_backend()) is not None)"
    )

    def enumerated() -> str:
        root = str(Path(fakeusb.__file__).resolve().parents[2])  # receiptd importable there
        env = {**os.environ, "PYTHONPATH": root}
        run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
        return run.stdout.strip() or run.stderr

    fakeusb.unplug(state)
    assert enumerated() == "False"
    fakeusb.replug(state)
    assert enumerated() == "True"
