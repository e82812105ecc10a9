"""Finding printers: what USB and serial ports this machine has, and who answers at an address.

An installer should not need to know a printer's URL. This module looks, and asks; it decides
nothing (no profile, no config): ``receiptd.cli.discover`` turns what it finds into a table and
a config snippet. Every probe is bounded by short timeouts, and the network is only probed at
the addresses it is given; a range (``scan``) is refused beyond 256 addresses.

A probe asks what every ESC/POS printer answers: ``DLE EOT 1`` (one status byte, proof that an
ESC/POS printer listens), then ``GS I 1`` and ``GS I 2`` (model and type bytes) and
``GS I 66/67/68/65/69`` (maker, model, serial, firmware, font as text). A printer that answers the
status but not the identity is still found, with what it did say.

Where no ESC/POS status comes back, the probe asks in Star Line Mode (Star Micronics' own
language, which TSP100 / TSP143, TSP650II and mC-Print speak): ``ESC ACK SOH`` (one automatic
status block, answered on arrival even while the printer is stopped) and, if that status says
it is online, ``ESC # * LF NUL`` (its version line, ``TSP143IIIU Ver1.0``). Star questions go
only to a port no ESC/POS printer answered, so an Epson never gets bytes it would print.
USB devices are not opened; Star's USB vendor ID (``STAR_VENDOR_ID``) names the maker.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from receiptd import protocol
from receiptd.errors import LinkClosed, LinkError
from receiptd.links import Link, link_for_url
from receiptd.protocol import star
from receiptd.protocol.status import is_dle_eot_reply

__all__ = [
    "DEFAULT_PORT",
    "MAX_SCAN",
    "STAR_VENDOR_ID",
    "USUAL_BAUDS",
    "PrinterAnswer",
    "Probe",
    "SerialPort",
    "UsbDevice",
    "parse_host",
    "probe_host",
    "probe_link",
    "probe_serial",
    "scan",
    "scan_range",
    "serial_ports",
    "usb_devices",
]

DEFAULT_PORT = 9100
MAX_SCAN = 256  # addresses: a /24 at most
USUAL_BAUDS = (38400, 19200, 9600, 115200)  # the first is the common receipt-printer default
USB_CLASS_PRINTER = 7
STAR_VENDOR_ID = 0x0519  # Star Micronics' USB vendor ID
ESCPOS, STAR = "escpos", "star"
STAR_MAKER = "Star Micronics"
_TEXT_QUERIES = ((66, "maker"), (67, "model"), (68, "serial"), (65, "firmware"), (69, "font"))


@dataclass(frozen=True)
class PrinterAnswer:
    """What a printer said about itself, and in which language (``dialect``).

    ESC/POS: ``status`` is the raw ``DLE EOT 1`` byte. Star: ``status`` is printer status 1 of
    the automatic status block (``asb``, hex), whose bit 3 is OFFLINE as in ``DLE EOT 1``;
    ``firmware`` is its whole version line (``TSP143IIIU Ver1.0``), ``model`` its first word."""

    status: int
    model_id: int | None = None  # GS I 1
    type_id: int | None = None  # GS I 2
    maker: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    font: str | None = None  # GS I 69: the printer's character set, e.g. a double-byte one
    dialect: str = ESCPOS
    asb: str | None = None  # Star: the automatic status block, hex

    @property
    def online(self) -> bool:
        return not self.status & 0x08  # DLE EOT 1 bit 3 / Star printer status 1 bit 3: offline


@dataclass(frozen=True)
class Probe:
    """One address asked: the URL a config would use, and the answer or why there is none."""

    url: str
    answer: PrinterAnswer | None = None
    error: str | None = None  # could not connect / open
    reachable: bool = False  # connected (or opened), whether or not anything answered


@dataclass(frozen=True)
class UsbDevice:
    vendor_id: int
    product_id: int
    printer: bool  # an interface (or the device) of class 7
    maker: str | None
    model: str | None
    serial: str | None

    @property
    def star(self) -> bool:
        """Made by Star Micronics (its vendor ID): it speaks Star's languages."""
        return self.vendor_id == STAR_VENDOR_ID

    @property
    def url(self) -> str:
        url = f"usb://{self.vendor_id:04x}:{self.product_id:04x}"
        return f"{url}?serial={quote(self.serial, safe='')}" if self.serial else url


@dataclass(frozen=True)
class SerialPort:
    device: str
    description: str | None
    maker: str | None
    serial: str | None
    vendor_id: int | None
    product_id: int | None


# -- asking one link ---------------------------------------------------------------------------


class _Reader:
    def __init__(self, link: Link, timeout: float) -> None:
        self.link, self.timeout = link, timeout
        self.pending = b""

    def ask(self, request: bytes, wanted: Callable[[bytes], tuple[Any, bytes] | None]) -> Any:
        """Write ``request``; return what ``wanted`` finds in the replies before the timeout."""
        self.link.write(request, self.timeout)
        deadline = time.monotonic() + self.timeout
        while True:
            found = wanted(self.pending)
            if found is not None:
                value, self.pending = found
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.pending += self.link.read(left)


def _status_byte(data: bytes) -> tuple[int, bytes] | None:
    for i, b in enumerate(data):
        if is_dle_eot_reply(b):
            return b, data[i + 1:]
    return None


def _id_byte(data: bytes) -> tuple[int, bytes] | None:
    for i, b in enumerate(data):
        if not b & 0x90:  # GS I 1-3 answers 0xx0xxxx
            return b, data[i + 1:]
    return None


def _info_text(data: bytes) -> tuple[str, bytes] | None:
    start = data.find(b"\x5f")  # GS I 65-69 answer 5F, ASCII text, NUL
    end = data.find(b"\x00", start + 1) if start >= 0 else -1
    if end < 0:
        return None
    return data[start + 1:end].decode("ascii", "replace").strip(), data[end + 1:]


def probe_link(link: Link, timeout: float = 0.5) -> Probe:
    """Open ``link``, ask status and identity, close it. Never raises for the printer's sake."""
    try:
        link.open()
    except LinkError as exc:
        return Probe(link.url, error=str(exc))
    try:
        reader = _Reader(link, timeout)
        status = reader.ask(protocol.dle_eot(1), _status_byte)
        if status is None:
            return Probe(link.url, reachable=True, answer=_ask_star(reader))
        # GS I waits behind whatever the printer has not processed, and an offline printer
        # processes nothing: after the first unanswered question the others would be too.
        ids: list[int | None] = [None, None]
        texts: dict[str, str | None] = {}
        for i, n in enumerate((1, 2)):
            ids[i] = reader.ask(protocol.identity(n), _id_byte)
            if ids[i] is None:
                break
        for n, key in _TEXT_QUERIES if ids[0] is not None else ():
            text = reader.ask(protocol.identity(n), _info_text)
            if text is None:
                break
            texts[key] = text or None
        return Probe(link.url, reachable=True,
                     answer=PrinterAnswer(status, ids[0], ids[1], texts.get("maker"),
                                          texts.get("model"), texts.get("serial"),
                                          texts.get("firmware"), texts.get("font")))
    except LinkClosed as exc:
        return Probe(link.url, reachable=True, error=f"closed while asked: {exc}")
    except LinkError as exc:
        return Probe(link.url, reachable=True, error=str(exc))
    finally:
        link.close()


def _star_reply(data: bytes, pick: Callable[[star.StarEvent], Any]) -> tuple[Any, bytes] | None:
    """The first Star reply ``pick`` takes from ``data``, and the bytes after it. ``data`` is
    everything unread so far, so it is parsed afresh each time."""
    parser = star.StarStreamParser()
    for i in range(len(data)):  # a byte at a time: what follows the reply stays unread
        for event in parser.feed(data[i:i + 1]):
            value = pick(event)
            if value is not None:
                return value, data[i + 1:]
    return None


def _star_asb(data: bytes) -> tuple[bytes, bytes] | None:
    return _star_reply(data, lambda e: e.raw if isinstance(e, protocol.AsbStatus) else None)


def _star_version(data: bytes) -> tuple[str, bytes] | None:
    return _star_reply(data, lambda e: e.text if isinstance(e, star.VersionReply) else None)


def _ask_star(reader: _Reader) -> PrinterAnswer | None:
    """Star Line Mode: the status block (real time), then, if online, the version line."""
    reader.pending = b""  # a Star printer's answer to the EOT in DLE EOT 1 is not wanted
    block = reader.ask(star.status_request(), _star_asb)
    if block is None:
        return None
    status = block[2]
    text = None
    if not status & 0x08:  # a stopped printer reads nothing from its buffer: no version
        text = reader.ask(star.version_request(), _star_version)
    model = (text or "").split(" Ver")[0].strip()  # as the daemon's session reads it
    return PrinterAnswer(status, maker=STAR_MAKER, model=model or None, firmware=text or None,
                         dialect=STAR, asb=block.hex(" "))


def parse_host(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address; ValueError if bad."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if not rest else "x")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host or (port and (not port.isdigit() or not 0 < int(port) < 65536)):
        raise ValueError(f"{text!r}: expected HOST or HOST:PORT (port 1-65535)")
    return host, int(port) if port else DEFAULT_PORT


def _tcp_url(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def probe_host(host: str, port: int = DEFAULT_PORT, *, connect_timeout: float = 1.0,
               timeout: float = 0.5) -> Probe:
    """Ask a network printer at ``host:port`` (raw TCP, "port 9100")."""
    url = _tcp_url(host, port)
    asked = f"{url}?connect_timeout={connect_timeout}"
    probe = probe_link(link_for_url(asked), timeout)
    error = probe.error.removeprefix(f"{asked}: ") if probe.error else None
    return Probe(url, probe.answer, error, probe.reachable)


def probe_serial(device: str, bauds: Iterable[int] = USUAL_BAUDS, *,
                 timeout: float = 0.5) -> Probe:
    """Ask a serial port at each baud rate in turn; the first that answers wins."""
    tried = []
    for baud in bauds:
        probe = probe_link(link_for_url(f"serial://{device}?baudrate={baud}"), timeout)
        if probe.answer is not None or not probe.reachable:
            return probe  # an answer, or a port that cannot be opened at all
        if probe.error:
            return Probe(f"serial://{device}", error=probe.error, reachable=True)
        tried.append(str(baud))
    rates = ", ".join(tried) or "no rate"
    return Probe(f"serial://{device}",
                 error=f"no answer to DLE EOT or ESC ACK SOH at {rates} baud",
                 reachable=bool(tried))


def scan_range(cidr: str) -> list[str]:
    """The addresses ``scan`` would probe; ValueError for a bad range or one over a /24."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.num_addresses > MAX_SCAN:
        raise ValueError(f"{cidr}: {network.num_addresses} addresses; scan at most a /24 "
                         f"({MAX_SCAN} addresses)")
    return [str(ip) for ip in network.hosts()] or [str(network.network_address)]


def scan(cidr: str, port: int = DEFAULT_PORT, *, connect_timeout: float = 0.3,
         timeout: float = 0.5, workers: int = 32) -> list[Probe]:
    """Probe every address of ``cidr`` (at most ``MAX_SCAN``), ``workers`` at a time; those that
    accepted a connection are returned, in address order."""
    hosts = scan_range(cidr)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        probes = pool.map(lambda ip: probe_host(ip, port, connect_timeout=connect_timeout,
                                                timeout=timeout), hosts)
        return [p for p in probes if p.reachable]


# -- listing ports -----------------------------------------------------------------------------


def _string(dev: Any, index: int) -> str | None:
    if not index:
        return None
    import usb.util

    try:
        return str(usb.util.get_string(dev, index)).strip() or None
    except Exception:  # permissions, no langid, a device gone: just unnamed
        return None


def _is_printer(dev: Any) -> bool:
    if dev.bDeviceClass == USB_CLASS_PRINTER:
        return True
    try:
        return any(intf.bInterfaceClass == USB_CLASS_PRINTER for cfg in dev for intf in cfg)
    except Exception:  # an unreadable descriptor: not known to be a printer
        return False


def usb_devices(backend: Any = None) -> list[UsbDevice]:
    """Every USB device pyusb sees (``printer`` tells which are printer-class). Raises
    ``LinkError`` when pyusb has no backend (libusb missing)."""
    import usb.core

    try:
        found = list(usb.core.find(find_all=True, backend=backend) or [])
    except usb.core.NoBackendError as exc:
        raise LinkError(f"USB: no pyusb backend (is libusb installed?): {exc}") from exc
    out = []
    for dev in found:
        printer = _is_printer(dev)
        names = [_string(dev, i) if printer else None
                 for i in (dev.iManufacturer, dev.iProduct, dev.iSerialNumber)]
        out.append(UsbDevice(dev.idVendor, dev.idProduct, printer, *names))
    return out


def serial_ports() -> list[SerialPort]:
    """The serial ports pyserial lists (USB adapters, on-board ports; not ptys)."""
    from serial.tools import list_ports

    return [SerialPort(p.device, p.description if p.description != "n/a" else None,
                       p.manufacturer, p.serial_number, p.vid, p.pid)
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]
