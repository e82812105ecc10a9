"""Links against real loopback sockets and pseudo-terminals; URL parsing."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from receiptd.errors import ConfigError, LinkClosed, LinkError, LinkTimeout
from receiptd.links import Link, link_for_url
from receiptd.links.serial import SerialLink
from receiptd.links.tcp import TcpLink
from receiptd.links.usb import UsbLink

from .link_helpers import FOREVER_S, GENEROUS_S, returned

# -- TCP -------------------------------------------------------------------------------------


def _listener(rcvbuf: int | None = None) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # inherited by accepted sockets; must be set before listen()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    return srv


@pytest.fixture
def server() -> Iterator[socket.socket]:
    srv = _listener()
    yield srv
    srv.close()


@pytest.fixture
def pair(server: socket.socket) -> Iterator[tuple[TcpLink, socket.socket]]:
    link = TcpLink("127.0.0.1", server.getsockname()[1], connect_timeout=1.0)
    link.open()
    peer, _ = server.accept()
    yield link, peer
    link.close()
    peer.close()


def test_tcp_read_returns_as_soon_as_bytes_arrive(pair: tuple[TcpLink, socket.socket]) -> None:
    link, peer = pair
    threading.Timer(0.1, peer.sendall, args=(b"\x12",)).start()
    assert returned(lambda: link.read(FOREVER_S)) == b"\x12"  # not its timeout


def test_tcp_read_timeout_gives_empty(pair: tuple[TcpLink, socket.socket]) -> None:
    link, _ = pair
    start = time.monotonic()
    assert returned(lambda: link.read(0.2)) == b""
    assert time.monotonic() - start > 0.15  # it waited its timeout out
    assert link.read(0) == b""


def test_tcp_write_round_trip(pair: tuple[TcpLink, socket.socket]) -> None:
    link, peer = pair
    link.write(b"\x1b@hello", timeout=1.0)
    peer.settimeout(1.0)
    assert peer.recv(100) == b"\x1b@hello"


def test_tcp_write_timeout_when_peer_stops_reading() -> None:
    srv = _listener(rcvbuf=4096)
    link = TcpLink("127.0.0.1", srv.getsockname()[1])
    link.open()
    peer, _ = srv.accept()  # never recv()s: a printer with a full buffer
    data = b"x" * (32 * 1024 * 1024)
    with pytest.raises(LinkTimeout) as info:  # not a write blocked for good
        returned(lambda: link.write(data, timeout=0.3))
    assert 0 < info.value.written < len(data)
    link.close()
    peer.close()
    srv.close()


def test_tcp_eof_is_link_closed(pair: tuple[TcpLink, socket.socket]) -> None:
    link, peer = pair
    peer.close()
    with pytest.raises(LinkClosed):
        link.read(1.0)


def test_tcp_reset_on_write_is_link_closed(pair: tuple[TcpLink, socket.socket]) -> None:
    link, peer = pair
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # linger 0: RST
    with pytest.raises(LinkClosed):
        for _ in range(100):
            link.write(b"x" * 1024, timeout=0.5)
            time.sleep(0.01)


def test_tcp_concurrent_read_and_write(pair: tuple[TcpLink, socket.socket]) -> None:
    link, peer = pair
    payload = os.urandom(2 * 1024 * 1024)

    def echo() -> None:
        with peer.makefile("rb") as stream:
            peer.sendall(stream.read(len(payload)))

    echoer = threading.Thread(target=echo)
    echoer.start()
    got = bytearray()

    def reader() -> None:
        while len(got) < len(payload):
            got.extend(link.read(2.0))

    thread = threading.Thread(target=reader)
    thread.start()
    link.write(payload, timeout=GENEROUS_S)
    thread.join(GENEROUS_S)
    echoer.join(GENEROUS_S)
    assert bytes(got) == payload


def test_tcp_close_wakes_blocked_reader(pair: tuple[TcpLink, socket.socket]) -> None:
    link, _ = pair
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
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], LinkClosed)
    link.close()  # idempotent
    with pytest.raises(LinkClosed):
        link.write(b"x", 1.0)


def test_tcp_open_refused_and_present(server: socket.socket) -> None:
    port = server.getsockname()[1]
    link = TcpLink("127.0.0.1", port, connect_timeout=0.5)
    assert link.present()
    server.close()
    assert not link.present()
    with pytest.raises(LinkClosed):
        link.open()


# -- serial over a pseudo-terminal -----------------------------------------------------------


@pytest.fixture
def pty() -> Iterator[tuple[SerialLink, int]]:
    master, slave = os.openpty()
    link = SerialLink(os.ttyname(slave), baudrate=115200)
    link.open()
    os.close(slave)  # the link holds its own descriptor
    yield link, master
    link.close()
    with contextlib.suppress(OSError):  # some tests close it themselves
        os.close(master)


def test_serial_round_trip(pty: tuple[SerialLink, int]) -> None:
    link, master = pty
    link.write(b"\x10\x04\x01\x0a\x0d\x11", timeout=1.0)  # raw: no newline mapping, no XON
    assert os.read(master, 100) == b"\x10\x04\x01\x0a\x0d\x11"
    os.write(master, b"\x12\x0d\x0a")
    assert link.read(1.0) == b"\x12\x0d\x0a"


def test_serial_read_returns_as_soon_as_bytes_arrive(pty: tuple[SerialLink, int]) -> None:
    link, master = pty
    threading.Timer(0.1, os.write, args=(master, b"\x12")).start()
    assert returned(lambda: link.read(FOREVER_S)) == b"\x12"  # not its timeout
    start = time.monotonic()
    assert returned(lambda: link.read(0.2)) == b""
    assert time.monotonic() - start > 0.15  # it waited its timeout out


def test_serial_write_timeout_when_nobody_reads(pty: tuple[SerialLink, int]) -> None:
    link, _ = pty
    data = b"x" * (1024 * 1024)
    with pytest.raises(LinkTimeout) as info:
        link.write(data, timeout=0.3)
    assert 0 < info.value.written < len(data)


def test_serial_master_closed_is_link_closed(pty: tuple[SerialLink, int]) -> None:
    link, master = pty
    os.close(master)
    with pytest.raises(LinkClosed):
        link.read(1.0)
    with pytest.raises(LinkClosed):
        link.write(b"x", 1.0)


def test_serial_close_wakes_blocked_reader(pty: tuple[SerialLink, int]) -> None:
    link, _ = pty
    errors: list[Exception | None] = []
    thread = threading.Thread(target=lambda: errors.append(_raises(link.read, FOREVER_S)))
    thread.start()
    time.sleep(0.1)
    link.close()
    thread.join(GENEROUS_S)  # woken by the close, not by its timeout
    assert not thread.is_alive() and isinstance(errors[0], LinkClosed)


def _raises(fn: Callable[..., object], *args: object) -> Exception | None:
    try:
        fn(*args)
    except Exception as exc:
        return exc
    return None


def test_serial_is_exclusive(pty: tuple[SerialLink, int]) -> None:
    link, _ = pty
    other = SerialLink(link.path)
    with pytest.raises(LinkError) as info:
        other.open()
    assert not isinstance(info.value, LinkClosed)  # busy, not absent


def test_serial_absent_device(tmp_path: object) -> None:
    link = SerialLink("/dev/receiptd-no-such-tty")
    assert not link.present()
    with pytest.raises(LinkClosed):
        link.open()


# -- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cls", "attrs"),
    [
        ("tcp://192.0.2.7:9100", TcpLink, {"host": "192.0.2.7", "port": 9100}),
        ("tcp://printer.local", TcpLink, {"host": "printer.local", "port": 9100}),
        ("tcp://[::1]:9101", TcpLink, {"host": "::1", "port": 9101}),
        ("tcp://h:1?connect_timeout=0.5", TcpLink, {"connect_timeout": 0.5}),
        ("serial:///dev/ttyUSB0", SerialLink, {"path": "/dev/ttyUSB0"}),
        (
            "serial:///dev/ttyS1?baudrate=9600&bytesize=7&parity=e&stopbits=2&rtscts=1&xonxoff=0",
            SerialLink,
            {
                "settings": {
                    "baudrate": 9600,
                    "bytesize": 7,
                    "parity": "E",
                    "stopbits": 2.0,
                    "rtscts": True,
                    "xonxoff": False,
                }
            },
        ),
        ("usb://04b8:0e28", UsbLink, {"vendor": 0x04B8, "product": 0x0E28, "serial": None}),
        (
            "usb://04B8:0E28?serial=ABC&interface=1",
            UsbLink,
            {"serial": "ABC", "interface": 1},
        ),
    ],
)
def test_link_for_url(url: str, cls: type, attrs: dict[str, object]) -> None:
    link = link_for_url(url)
    assert isinstance(link, cls) and isinstance(link, Link)
    assert link.url == url and link.kind == url.split(":")[0]
    for key, value in attrs.items():
        assert getattr(link, key) == value, key


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("lpt://x", "unknown scheme"),
        ("/dev/ttyUSB0", "unknown scheme"),
        ("tcp://", "missing host"),
        ("tcp://:9100", "missing host"),
        ("tcp://host:http", "bad port"),
        ("tcp://host:70000", "bad port"),
        ("tcp://host:0", "bad port"),
        ("tcp://host:", "bad port"),
        ("tcp://host:9100/queue", "no path"),
        ("tcp://host?baudrate=9600", "unknown query parameter 'baudrate'"),
        ("tcp://host?connect_timeout=-1", "must be positive"),
        ("serial://dev/ttyUSB0", "absolute path"),
        ("serial:///dev/ttyUSB0?baud=9600", "unknown query parameter 'baud'"),
        ("serial:///dev/ttyUSB0?baudrate=fast", "not a number"),
        ("serial:///dev/ttyUSB0?parity=X", "parity"),
        ("serial:///dev/ttyUSB0?stopbits=3", "stopbits"),
        ("serial:///dev/ttyUSB0?bytesize=9", "bytesize"),
        ("serial:///dev/ttyUSB0?rtscts=maybe", "rtscts"),
        ("serial:///dev/ttyUSB0?baudrate=9600&baudrate=19200", "given twice"),
        ("usb://04b8", "VVVV:PPPP"),
        ("usb://04b8:e28", "VVVV:PPPP"),
        ("usb://04g8:0e28", "VVVV:PPPP"),
        ("usb://04b8:0e28?serial=", "serial= is empty"),
        ("usb://04b8:0e28?interface=x", "interface"),
        ("usb://04b8:0e28?vid=1", "unknown query parameter 'vid'"),
    ],
)
def test_link_for_url_rejects(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        link_for_url(url)
    assert message in str(info.value)
    assert repr(url) in str(info.value) or url == ""


def test_wire_logger_hex_dumps_when_enabled(
    pair: tuple[TcpLink, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    link, peer = pair
    link.write(b"\x1b@", 1.0)  # off by default: nothing captured
    assert not [r for r in caplog.records if r.name == "receiptd.wire"]
    with caplog.at_level(logging.DEBUG, logger="receiptd.wire"):
        link.write(b"\x10\x04\x01", 1.0)
        peer.sendall(b"\x12")
        assert link.read(1.0) == b"\x12"
    lines = [r.getMessage() for r in caplog.records if r.name == "receiptd.wire"]
    assert lines == [f"{link.url} > 3 10 04 01", f"{link.url} < 1 12"]
