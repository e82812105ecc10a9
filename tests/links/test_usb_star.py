"""A Star printer on USB: the fake pyusb backend as a Star mC-Print3 (vendor 0x0519), bridged
to the emulator's Star dialect. The link carries Star Line Mode both ways: ``ESC ACK SOH`` is
answered with an automatic status, an ``ETB`` moves the counter it carries.

The daemon runs it end to end in ``tests/e2e/test_fault_matrix.py`` (``RECEIPTD_USB_BACKEND``
names ``star_backend`` below): prints confirmed by the ETB counter, unplug and replug.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import usb.core

from receiptd.emulator import Emulator
from receiptd.links import link_for_url
from receiptd.links.usb import UsbLink
from receiptd.protocol import star
from receiptd.testing import fakeusb

STAR_VENDOR, STAR_PRODUCT = 0x0519, 0x0047
STAR_URL = f"usb://{STAR_VENDOR:04x}:{STAR_PRODUCT:04x}"
BACKEND = "tests.links.test_usb_star:star_backend"
ROOT = Path(__file__).resolve().parents[2]  # where ``tests`` is importable from


class StarUsb(fakeusb.FakeUsbBackend):
    """The fake USB printer with Star's vendor ID and strings; everything else is fakeusb's."""

    STRINGS: ClassVar[dict[int, str]] = {1: "Star Micronics", 2: "Star mC-Print3",
                                         3: "STARMC01"}
    DEVICE_ID: ClassVar[bytes] = b"MFG:STAR;CMD:STAR;MDL:MCP31L;CLS:PRINTER;"

    def get_device_descriptor(self, dev: Any) -> Any:
        desc = super().get_device_descriptor(dev)
        desc.idVendor, desc.idProduct = STAR_VENDOR, STAR_PRODUCT
        return desc

    def _control_in(self, request_type: int, request: int, value: int) -> bytes:
        index = value & 0xFF
        if (request_type, request) == (0x80, 0x06) and value >> 8 == 3 and index in self.STRINGS:
            text = self.STRINGS[index].encode("utf-16-le")
            return bytes([2 + len(text), 3]) + text
        if (request_type, request) == (0xA1, 0x00):  # GET_DEVICE_ID
            return (len(self.DEVICE_ID) + 2).to_bytes(2, "big") + self.DEVICE_ID
        return fakeusb.FakeUsbBackend._control_in(request_type, request, value)


def star_backend() -> StarUsb:
    """``RECEIPTD_USB_BACKEND=tests.links.test_usb_star:star_backend``"""
    return StarUsb()


def usb_env(emulator_port: int, state: Path) -> dict[str, str]:
    """The environment that puts the Star emulator at ``emulator_port`` behind the fake USB
    device, for a daemon subprocess."""
    return {"RECEIPTD_USB_BACKEND": BACKEND, fakeusb.ENV_TARGET: f"127.0.0.1:{emulator_port}",
            fakeusb.ENV_STATE: str(state), "PYTHONPATH": str(ROOT)}


@pytest.fixture
def star_emu() -> Iterator[Emulator]:
    emu = Emulator(speed_mm_s=2000.0, dialect="star")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def link(star_emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UsbLink]:
    for key, value in usb_env(star_emu.start_tcp(), tmp_path / "state").items():
        monkeypatch.setenv(key, value)
    made = link_for_url(STAR_URL)
    assert isinstance(made, UsbLink)
    made.open()
    yield made
    made.close()


def read_events(link: UsbLink, parser: star.StarStreamParser, want: int,
                timeout: float = 3.0) -> list[Any]:
    """Star events from the link until ``want`` have come (bounded by ``timeout`` per read)."""
    events: list[Any] = []
    for _ in range(50):
        if len(events) >= want:
            break
        events += parser.feed(link.read(timeout))
    assert len(events) >= want, events
    return events


def test_the_fake_device_is_a_star_printer(tmp_path: Path) -> None:
    backend = StarUsb(target="127.0.0.1:9", state_path=str(tmp_path / "s"))
    dev = usb.core.find(idVendor=STAR_VENDOR, backend=backend)
    assert dev is not None
    assert (dev.idProduct, dev.manufacturer, dev.serial_number) == (
        STAR_PRODUCT, "Star Micronics", "STARMC01")
    assert b"CMD:STAR;" in bytes(dev.ctrl_transfer(0xA1, 0x00, 0, 0, 1024))
    assert usb.core.find(idVendor=fakeusb.VENDOR, backend=backend) is None
    usb.util.dispose_resources(dev)


def test_star_status_and_etb_counter_over_usb(link: UsbLink, star_emu: Emulator) -> None:
    parser = star.StarStreamParser()
    link.write(star.status_request(), timeout=1.0)
    events = read_events(link, parser, 2)
    assert events[0] == star.EtbCounter(0, False), events
    # Counter cleared, two ETBs behind a line of text: the counter moves once each is reached.
    link.write(star.clear_etb_counter() + b"USB STAR LINE\n" + star.etb() * 2, timeout=1.0)
    star_emu.wait_idle(10)
    link.write(star.status_request(), timeout=1.0)
    counters: list[int] = []
    for _ in range(10):
        counters += [e.value for e in read_events(link, parser, 1)
                     if isinstance(e, star.EtbCounter)]
        if counters and counters[-1] == 2:
            break
    assert counters[-1] == 2, counters
    assert "USB STAR LINE" in star_emu.transcript.text()
