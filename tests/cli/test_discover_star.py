"""``receiptd discover`` finds Star printers: the emulator's Star dialect on loopback TCP and
behind a pty answers no ``DLE EOT``, so the probe asks in Star Line Mode (``ESC ACK SOH``,
``ESC # * LF NUL``); a USB device with Star's vendor ID 0x0519 (the fake pyusb backend) is Star
by that alone. The snippet each prints, loaded as the config file of a real daemon process,
prints a receipt that the printer's ETB counter proves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from receiptd.config import build_config, load_file
from receiptd.emulator import Emulator
from receiptd.links import ENV_USB_BACKEND
from receiptd.testing import fakeusb

from ..support import DaemonProcess, wait_until
from .discover_helpers import daemon_from_snippet, found, run, snippet_config

ROOT = Path(__file__).resolve().parents[2]
TSP143 = "TSP143IIIU Ver1.0"  # raster only (TSP100 class): dialect star_raster
MC_PRINT = "MCP31L Ver1.1"  # mC-Print3: Star Line Mode
STAR_PRODUCT = 0x0003


class StarBus(fakeusb.FakeUsbBackend):
    """The fake USB printer as a Star TSP143IIIU: vendor 0x0519, its own strings."""

    STRINGS: ClassVar[dict[int, str]] = {1: "Star Micronics", 2: "Star TSP143IIIU", 3: "STAR0001"}

    def get_device_descriptor(self, dev: Any) -> Any:
        desc = super().get_device_descriptor(dev)
        desc.idVendor, desc.idProduct = 0x0519, STAR_PRODUCT
        return desc

    def _control_in(self, request_type: int, request: int, value: int) -> bytes:
        index = value & 0xFF
        if (request_type, request) == (0x80, 0x06) and value >> 8 == 3 and index in self.STRINGS:
            text = self.STRINGS[index].encode("utf-16-le")
            return bytes([2 + len(text), 3]) + text
        if (request_type, request) == (0xA1, 0x00):
            device_id = b"MFG:STAR;CMD:STAR;MDL:TSP143IIIU;CLS:PRINTER;"
            return (len(device_id) + 2).to_bytes(2, "big") + device_id
        return fakeusb.FakeUsbBackend._control_in(request_type, request, value)


def star_bus() -> StarBus:
    """``RECEIPTD_USB_BACKEND=tests.cli.test_discover_star:star_bus``"""
    return StarBus()


@pytest.fixture
def star_emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    version = getattr(request, "param", TSP143)
    emulator = Emulator(speed_mm_s=2000.0, dialect="star", star_version=version)
    try:
        yield emulator
    finally:
        emulator.stop()


def _address(emu: Emulator, transport: str, tmp_path: Path) -> tuple[str, ...]:
    if transport == "tcp":
        return ("--host", f"127.0.0.1:{emu.start_tcp()}")
    link = tmp_path / "ttySTAR"
    emu.start_pty(link=str(link))
    return ("--serial", str(link), "--baud", "38400")


def _printed_by_etb(daemon: DaemonProcess, emu: Emulator, name: str, tag: str) -> None:
    """A receipt through the daemon: printed, proven by the ETB counter, on paper."""
    health = daemon.wait_state("online", name=name, timeout=20)
    assert health["confirmation"] == "process_id", health  # Star: the ETB counter's proof
    before = emu.snapshot()["etb_counter"]
    slips = len(emu.transcript.slips())
    receipt = daemon.submit({"document": {"blocks": [
        {"type": "text", "text": f"FOUND {tag}", "bold": True},
        {"type": "row", "left": "Total", "right": "1.00"}, {"type": "cut"}]}}, printer=name)
    done = daemon.wait_printed(receipt["id"])
    assert [(p["state"], p["confirmation"]) for p in done["prints"]] == [
        ("printed", "process_id")], done["prints"]
    assert emu.snapshot()["etb_counter"] != before  # the session's ETB after the print
    wait_until(lambda: len(emu.transcript.slips()) > slips, what="the slip cut off")


@pytest.mark.parametrize(
    ("transport", "star_emu", "model", "dialect"),
    [("tcp", TSP143, "TSP143IIIU", "star_raster"), ("pty", TSP143, "TSP143IIIU", "star_raster"),
     ("tcp", MC_PRINT, "MCP31L", "star"), ("pty", MC_PRINT, "MCP31L", "star")],
    indirect=["star_emu"])
def test_star_printer_is_discovered_and_its_snippet_prints(
    transport: str, star_emu: Emulator, model: str, dialect: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emu, raster = star_emu, dialect == "star_raster"
    where = _address(emu, transport, tmp_path)
    [row] = [r for r in found(capsys, *where, kind=where[0].strip("-").replace("host", "tcp"))
             if r["printer"]]
    assert (row["maker"], row["model"]) == ("Star Micronics", model)
    assert (row["dialect"], row["profile"], row["status"]) == (dialect, "TSP600", "online")
    assert row["double_byte"] is None

    code, snippet = run(capsys, *where, "--toml")
    assert code == 0
    assert 'dialect = "star"' in snippet and 'profile = "TSP600"' in snippet
    assert ('dialect = "star_raster"' in snippet) == raster
    config = snippet_config(tmp_path, snippet)
    [name] = build_config(load_file(config)).printers  # the daemon's own reading of it

    daemon = daemon_from_snippet(daemon_factory, tmp_path, snippet)
    _printed_by_etb(daemon, emu, name, f"{transport}-{dialect}")
    slip = emu.transcript.slips()[-1]
    texts = [e["text"] for e in slip if e.get("type") == "text"]
    if raster:  # raster lines only: the text comes out as an image
        assert any(e.get("type") == "image" for e in slip), slip
        assert not any("FOUND" in t for t in texts), texts
    else:
        assert f"FOUND {transport}-{dialect}" in texts, slip


def test_stopped_star_printer_is_found_without_its_version(
        star_emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Cover open: the status block still comes (real time), the version would wait behind
    the fault, so it is not asked; the snippet is still a Star one."""
    port = star_emu.start_tcp()
    star_emu.inject("cover_open")
    [row] = found(capsys, "--host", f"127.0.0.1:{port}", kind="tcp")
    assert row["printer"] and row["status"].startswith("offline")
    assert (row["maker"], row["model"], row["dialect"]) == ("Star Micronics", None, "star")
    snippet = run(capsys, "--host", f"127.0.0.1:{port}", "--toml")[1]
    assert snippet.startswith(f'[printers.network]\nurl = "tcp://127.0.0.1:{port}"\n'
                              'dialect = "star"')
    assert "star_raster" not in snippet  # the model is not known


def test_escpos_printer_gets_no_star_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    """An ESC/POS printer answers DLE EOT: it is never asked in Star Line Mode."""
    with Emulator(speed_mm_s=2000.0) as emu:
        port = emu.start_tcp()
        [row] = found(capsys, "--host", f"127.0.0.1:{port}", kind="tcp")
        assert (row["model"], row["dialect"]) == ("TM-T88V", "escpos")
        snippet = run(capsys, "--host", f"127.0.0.1:{port}", "--toml")[1]
        assert "dialect" not in snippet
        emu.wait_idle()
        assert emu.transcript.text().strip() == ""  # nothing printed, no unknown command


# -- USB: Star's vendor ID ---------------------------------------------------------------------


def test_star_usb_device_is_star_by_its_vendor_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    backend = "tests.cli.test_discover_star:star_bus"
    monkeypatch.setenv(ENV_USB_BACKEND, backend)
    [row] = found(capsys, kind="usb")
    assert row["url"] == "usb://0519:0003?serial=STAR0001"
    assert (row["maker"], row["model"]) == ("Star Micronics", "Star TSP143IIIU")
    assert (row["dialect"], row["profile"]) == ("star_raster", "TSP600")
    code, snippet = run(capsys, "--toml")
    assert code == 0
    assert "Star's USB vendor ID 0519" in snippet and 'dialect = "star_raster"' in snippet
    [name] = build_config(load_file(snippet_config(tmp_path, snippet))).printers

    # The daemon prints through the same fake device, bridged to the Star emulator.
    with Emulator(speed_mm_s=2000.0, dialect="star") as emu:
        port = emu.start_tcp()
        daemon = daemon_from_snippet(daemon_factory, tmp_path, snippet, extra_env={
            ENV_USB_BACKEND: backend, fakeusb.ENV_TARGET: f"127.0.0.1:{port}",
            "PYTHONPATH": str(ROOT)})
        _printed_by_etb(daemon, emu, name, "usb")
