"""``receiptd discover`` against real parts: the fake pyusb backend (a printer-class device and
a keyboard-like one), the emulator behind a pty and on loopback TCP; and the snippet it prints,
loaded as the config file of a real daemon process, prints a receipt."""

from __future__ import annotations

import errno
import os
import select
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from receiptd.cli import discover
from receiptd.cli.daemon import main
from receiptd.config import load_config
from receiptd.emulator import Emulator
from receiptd.emulator.config import Identity
from receiptd.links import ENV_USB_BACKEND
from receiptd.links import discover as find
from receiptd.testing import fakeusb

from ..support import DaemonProcess, sample_document, slips_with
from .discover_helpers import daemon_from_snippet, found, run

DLE_EOT_1 = b"\x10\x04\x01"  # ESC/POS: the printer status, answered in real time
ESC_ACK_SOH = b"\x1b\x06\x01"  # Star: the automatic status block
GS_I_1 = b"\x1d\x49\x01"  # ESC/POS: the model ID, answered once read from the buffer

# -- a fake USB bus: the fake printer, and a device of another class --------------------------

OTHER_VENDOR, OTHER_PRODUCT = 0x046D, 0xC31C  # a keyboard (HID, class 3)


class TwoDevices(fakeusb.FakeUsbBackend):
    """The fake printer plus a HID device that has no printer interface."""

    def __init__(self) -> None:
        super().__init__(target="", state_path="")
        self.other = fakeusb._Device("other")

    def enumerate_devices(self) -> list[Any]:
        return [*super().enumerate_devices(), self.other]

    def get_device_descriptor(self, dev: Any) -> Any:
        desc = super().get_device_descriptor(fakeusb._Device(""))
        if dev is not self.other:
            return desc
        return SimpleNamespace(**{**vars(desc), "idVendor": OTHER_VENDOR,
                                  "idProduct": OTHER_PRODUCT, "iManufacturer": 0,
                                  "iProduct": 0, "iSerialNumber": 0, "address": 9})

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        desc = super().get_interface_descriptor(dev, intf, alt, config)
        if dev is not self.other:
            return desc
        return SimpleNamespace(**{**vars(desc), "bInterfaceClass": 3})


def two_devices() -> TwoDevices:
    """``RECEIPTD_USB_BACKEND=tests.cli.test_discover:two_devices``"""
    return TwoDevices()


@pytest.fixture
def fake_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_USB_BACKEND, "tests.cli.test_discover:two_devices")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    emulator = Emulator(speed_mm_s=2000.0)
    try:
        yield emulator
    finally:
        emulator.stop()


# -- USB -----------------------------------------------------------------------------------------


def test_usb_lists_printer_class_devices_only(fake_bus: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    [row] = found(capsys, kind="usb")
    assert row["url"] == "usb://04b8:0e28?serial=FAKE0001"
    assert (row["maker"], row["model"], row["serial"]) == ("EPSON", "TM-T88V (fake USB)",
                                                           "FAKE0001")
    assert row["printer"] and row["profile"] == "TM-T88V"  # guessed from the product string


def test_usb_all_shows_other_devices_as_such(fake_bus: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rows = found(capsys, "--all", kind="usb")
    assert [(r["url"], r["printer"], r["status"]) for r in rows] == [
        ("usb://04b8:0e28?serial=FAKE0001", True, "printer class"),
        ("usb://046d:c31c", False, "not a printer"),
    ]
    code, out = run(capsys, "--all", "--toml")
    assert code == 0
    assert "usb://046d:c31c" not in out  # never configured as a printer
    assert 'url = "usb://04b8:0e28?serial=FAKE0001"' in out


def test_usb_url_from_discovery_is_one_the_link_accepts(fake_bus: None,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    [row] = found(capsys, kind="usb")
    config = load_config(printers=[f"front={row['url']}"])
    assert config.printers["front"].url == row["url"]


# -- serial: a pty with the emulator behind it -----------------------------------------------------


def test_serial_probe_reads_status_and_identity(emu: Emulator,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = emu.start_pty()
    [row] = [r for r in found(capsys, "--serial", path, "--baud", "9600", kind="serial")
             if path in r["url"]]
    assert row["url"] == f"serial://{path}?baudrate=9600"
    assert (row["maker"], row["model"], row["serial"]) == ("EPSON", "TM-T88V", "RCPTEMU0001")
    assert row["status"] == "online" and row["profile"] == "TM-T88V"


def sent_to(master: int) -> bytes:
    """Everything written to a pty's slave side, read from its master once no one has the slave
    open any more (the master then reads what is left, and EIO)."""
    got = b""
    while True:
        ready, _, _ = select.select([master], [], [], 10)
        assert ready, f"the pty's master never reached the end, after {got.hex(' ')}"
        try:
            data = os.read(master, 4096)
        except OSError as exc:
            assert exc.errno == errno.EIO, exc
            return got
        if not data:
            return got
        got += data


def test_serial_probe_of_a_silent_port_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    """Each rate given gets one ESC/POS status question and one Star status question, each
    waited for once; then the probe gives up: no other rate, no question asked again."""
    master, slave = os.openpty()  # a port nobody answers on
    try:
        path = os.ttyname(slave)
        rows = found(capsys, "--serial", path, "--baud", "9600", "--baud", "19200",
                     "--timeout", "0.2", kind="serial")
        os.close(slave)
        slave = -1
        sent = sent_to(master)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    [row] = [r for r in rows if path in r["url"]]
    assert row["url"] == f"serial://{path}"  # no baud rate that worked to name
    assert not row["printer"] and row["status"] == ("no answer to DLE EOT or ESC ACK SOH at "
                                                    "9600, 19200 baud")
    questions = DLE_EOT_1 + ESC_ACK_SOH
    assert sent == questions * 2, sent.hex(" ")  # two rates, two questions each
    assert path not in run(capsys, "--serial", path, "--toml")[1]


# -- network: only the addresses given -------------------------------------------------------------


def test_host_probe_and_unreachable_host(emu: Emulator,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    port = emu.start_tcp()
    rows = found(capsys, "--host", f"127.0.0.1:{port}", "--host", "127.0.0.1:1", kind="tcp")
    assert [(r["url"], r["printer"]) for r in rows] == [
        (f"tcp://127.0.0.1:{port}", True), ("tcp://127.0.0.1:1", False)]
    assert rows[0]["model"] == "TM-T88V" and rows[0]["status"] == "online"
    assert "refused" in rows[1]["status"]


def test_offline_printer_is_found_without_waiting_for_each_question(
        emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Cover open: the status still answers (real time), GS I waits behind the fault, so the
    probe stops at the first unanswered identity question. The printer holds what it was
    sent in its buffer until the cover closes: the status question and one GS I, no more."""
    port = emu.start_tcp()
    emu.inject("cover_open")
    [row] = found(capsys, "--host", f"127.0.0.1:{port}", "--timeout", "0.3", kind="tcp")
    emu.wait(lambda e: not e.snapshot()["connection"]["tcp"]["connected"])  # all bytes read
    with emu.engine.lock:
        held = bytes(emu.model.rx)
    assert held == DLE_EOT_1 + GS_I_1, held.hex(" ")  # status, then one unanswered GS I
    assert emu.snapshot()["bytes_received"] == len(held)
    assert row["printer"] and row["status"].startswith("offline")
    assert row["model"] is None and row["profile"] is None
    snippet = run(capsys, "--host", f"127.0.0.1:{port}", "--timeout", "0.3", "--toml")[1]
    assert snippet.startswith(f'[printers.network]\nurl = "tcp://127.0.0.1:{port}"\n')
    assert "# profile: none guessed (no model given)" in snippet


def test_no_network_probe_unless_asked(emu: Emulator,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    emu.start_tcp()
    assert found(capsys, kind="tcp") == []


def test_scan_finds_the_emulator_and_refuses_big_ranges(
        emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    port = emu.start_tcp()
    rows = found(capsys, "--scan", "127.0.0.0/29", "--port", str(port), kind="tcp")
    assert [r["url"] for r in rows] == [f"tcp://127.0.0.1:{port}"]
    capsys.readouterr()
    assert main(["discover", "--scan", "10.0.0.0/23"]) == 2
    assert "at most a /24" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at most a /24"):
        find.scan("10.0.0.0/23")


@pytest.mark.parametrize("args", [("--host", "printer:http"), ("--scan", "nonsense"),
                                  ("--scan", "10.0.0.0/8"), ("--port", "0", "--scan", "::1"),
                                  ("--serial", "ttyS1"), ("--baud", "0", "--serial", "/dev/x"),
                                  ("--timeout", "60")])
def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str],
                                   args: tuple[str, ...]) -> None:
    capsys.readouterr()
    assert main(["discover", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("receiptd discover: ")


def test_table_and_snippet_for_a_model_without_profile() -> None:
    rows = [discover.Found("tcp", "tcp://10.0.0.7:9100", True, "ACME", "Mystery 80",
                           status="online")]
    discover._name(rows)
    snippet = discover.toml_snippet(rows)
    assert snippet.startswith("[printers.mystery-80]\nurl = \"tcp://10.0.0.7:9100\"\n")
    assert "# profile: none guessed (ACME Mystery 80)" in snippet
    assert "Mystery 80" in discover.table(rows)
    assert discover.guess_profile("EPSON TM-T20II") == "TM-T20II"


# -- the snippet is a working config ---------------------------------------------------------------


def test_snippet_starts_the_daemon_and_prints(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    port = emu.start_tcp()
    code, snippet = run(capsys, "--host", f"127.0.0.1:{port}", "--toml")
    assert code == 0
    daemon = daemon_from_snippet(daemon_factory, tmp_path, snippet)
    receipt = daemon.submit({"document": sample_document("FOUND-1")}, printer="tm-t88v")
    daemon.wait_printed(receipt["id"])
    assert len(slips_with(emu, "FOUND-1")) == 1


def test_snippet_of_a_chinese_model_prints_chinese_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    """A printer naming a GB18030 font: the snippet sets double_byte, so the daemon sends
    Chinese as double-byte text, not as images, with no setting typed by hand."""
    identity = Identity(model="TM-T20II", font="Simplified Chinese GB18030")
    emu = Emulator(speed_mm_s=2000.0, columns=48, cjk="gb18030", identity=identity)
    port = emu.start_tcp()
    try:
        code, snippet = run(capsys, "--host", f"127.0.0.1:{port}", "--toml")
        assert code == 0
        assert 'double_byte = "gb18030"' in snippet and 'profile = "TM-T20II"' in snippet
        daemon = daemon_from_snippet(daemon_factory, tmp_path, snippet)
        receipt = daemon.submit({"document": {"blocks": [
            {"type": "text", "text": "FOUND-CJK 收银小票"}, {"type": "cut"}]}},
            printer="tm-t20ii")
        daemon.wait_printed(receipt["id"])
        [slip] = slips_with(emu, "FOUND-CJK")
        assert not [e for e in slip if e["type"] == "image"]
        assert "FOUND-CJK 收银小票" in [e["text"] for e in slip if e["type"] == "text"]
    finally:
        emu.stop()


@pytest.mark.parametrize(("font", "setting"), [
    ("PC437", None), ("Simplified Chinese GB18030", "gb18030"), ("BIG5", "big5"),
    ("Japanese Kanji", "shift_jis"), ("Korean KSC5601", "ksc5601"), (None, None)])
def test_double_byte_guess_from_font(font: str | None, setting: str | None) -> None:
    assert discover.guess_double_byte(font) == setting


def test_snippet_says_when_the_profile_is_only_the_closest() -> None:
    """A model no profile is named after gets the one ``suggest`` finds closest (a TM-T88VI
    the TM-T88V's), with a comment to check it: a wrong width must not pass unnoticed."""
    rows = [discover.Found("tcp", "tcp://10.0.0.8:9100", True, "EPSON", "TM-T88VI",
                           status="online"),
            discover.Found("tcp", "tcp://10.0.0.9:9100", True, "EPSON", "TM-T88V",
                           status="online")]
    for row in rows:
        discover._settle(row, star=False)
    discover._name(rows)
    snippet = discover.toml_snippet(rows)
    assert 'profile = "TM-T88V"  # the closest to EPSON TM-T88VI: check its width' in snippet
    assert 'profile = "TM-T88V"  # guessed from EPSON TM-T88V' in snippet
    assert "dialect" not in snippet
