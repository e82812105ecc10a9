"""Transports to a printer: one small class per scheme behind the `Link` protocol.

A printer session is *handed* a link (`link_for_url(url)`); it never inherits one. Links do
byte I/O with timeouts and nothing else: no ESC/POS, no retries, no state machine.

Error contract (see `receiptd.errors`): `LinkClosed` when the peer or device is gone (absent at
`open()`, EOF, reset, unplug), `LinkTimeout(written=n)` when a write did not finish in time,
`LinkError` for anything else (permission denied, busy, no USB backend).

Wire traffic is logged as hex on the stdlib logger ``receiptd.wire`` at DEBUG; it is silent
unless that logger is explicitly enabled.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import select
import threading
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from receiptd.errors import ConfigError, LinkTimeout

__all__ = [
    "ENV_USB_BACKEND",
    "SCHEMES",
    "Link",
    "link_for_url",
    "log_wire",
    "timed_out",
    "usb_backend_from_env",
    "wait_fd",
    "write_lock",
]

SCHEMES = ("tcp", "serial", "usb")
ENV_USB_BACKEND = "RECEIPTD_USB_BACKEND"

wire_logger = logging.getLogger("receiptd.wire")


@runtime_checkable
class Link(Protocol):
    url: str  # the address it was made from
    kind: str  # "tcp" | "serial" | "usb"

    def open(self) -> None: ...  # raises LinkError (LinkClosed if absent)

    # all bytes, or LinkTimeout(written=n) / LinkClosed; never blocks longer than timeout
    def write(self, data: bytes, timeout: float) -> None: ...

    # returns as soon as >=1 byte is available; b"" on timeout; LinkClosed on EOF/unplug
    def read(self, timeout: float) -> bytes: ...

    def close(self) -> None: ...  # idempotent

    def present(self) -> bool: ...  # device node / USB device / host reachable


def log_wire(url: str, direction: str, data: bytes | memoryview) -> None:
    """Hex-dump traffic to ``receiptd.wire``; `direction` is ">" (to printer) or "<"."""
    if data and wire_logger.isEnabledFor(logging.DEBUG):
        wire_logger.debug("%s %s %d %s", url, direction, len(data), bytes(data).hex(" "))


@contextlib.contextmanager
def write_lock(lock: threading.Lock, timeout: float, url: str) -> Iterator[None]:
    """Serialise writers (spooler and status poller) without waiting past `timeout`."""
    if not lock.acquire(timeout=max(0.0, timeout)):
        raise LinkTimeout(f"{url}: another write is in progress", written=0)
    try:
        yield
    finally:
        lock.release()


def timed_out(url: str, sent: int, total: int) -> LinkTimeout:
    return LinkTimeout(f"{url}: write timed out after {sent}/{total} bytes", written=sent)


def wait_fd(fd: int, *, write: bool, timeout: float, wake: int | None = None) -> bool:
    """Wait until `fd` is readable (or writable); False on timeout or when `wake` is readable.

    poll(), not select(): a daemon with many printers may hold descriptors above 1024.
    Error and hang-up conditions count as ready, so the next read/write reports them.
    """
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    if wake is not None:
        poller.register(wake, select.POLLIN)
    ready = poller.poll(max(0, math.ceil(timeout * 1000)))
    return any(f == fd for f, _ in ready) and not any(f == wake for f, _ in ready)


# -- URLs ------------------------------------------------------------------------------------


def link_for_url(url: str) -> Link:
    """Build a link (not opened) from `tcp://`, `serial://` or `usb://`; ConfigError if bad."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ConfigError(f"printer url {url!r}: {exc}") from exc
    if parts.scheme not in SCHEMES:
        raise ConfigError(
            f"printer url {url!r}: unknown scheme {parts.scheme!r} "
            f"(expected one of {', '.join(s + '://' for s in SCHEMES)})"
        )
    if parts.fragment:
        raise ConfigError(f"printer url {url!r}: a fragment ('#...') is not allowed")
    query = _query(url, parts.query)
    if parts.scheme == "tcp":
        return _tcp(url, parts.netloc, parts.path, query)
    if parts.scheme == "serial":
        return _serial(url, parts.netloc, parts.path, query)
    return _usb(url, parts.netloc, parts.path, query)


def _query(url: str, text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in out:
            raise ConfigError(f"printer url {url!r}: query parameter {key!r} given twice")
        out[key] = value
    return out


def _check_keys(url: str, query: dict[str, str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise ConfigError(
            f"printer url {url!r}: unknown query parameter {unknown[0]!r} "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )


def _number(url: str, key: str, text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"printer url {url!r}: {key}={text!r} is not a number") from None
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"printer url {url!r}: {key}={text!r} must be positive")
    return value


def _flag(url: str, key: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"printer url {url!r}: {key}={text!r} must be 0 or 1")


def _tcp(url: str, netloc: str, path: str, query: dict[str, str]) -> Link:
    from receiptd.links.tcp import DEFAULT_PORT, TcpLink

    _check_keys(url, query, ("connect_timeout",))
    if path not in ("", "/"):
        raise ConfigError(f"printer url {url!r}: tcp:// takes no path (tcp://HOST:PORT)")
    parts = urlsplit(f"//{netloc}")
    host = parts.hostname
    if not host or "@" in netloc:
        raise ConfigError(f"printer url {url!r}: missing host (tcp://HOST:PORT)")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"printer url {url!r}: bad port (1-65535)") from None
    if port == 0 or (port is None and netloc.rstrip("]").endswith(":")):
        raise ConfigError(f"printer url {url!r}: bad port (1-65535)")
    timeout = 3.0
    if "connect_timeout" in query:
        timeout = _number(url, "connect_timeout", query["connect_timeout"], float)
    return TcpLink(host, port or DEFAULT_PORT, connect_timeout=timeout, url=url)


_SERIAL_KEYS = ("baudrate", "bytesize", "parity", "stopbits", "rtscts", "xonxoff")


def _serial(url: str, netloc: str, path: str, query: dict[str, str]) -> Link:
    from receiptd.links.serial import SerialLink

    _check_keys(url, query, _SERIAL_KEYS)
    if netloc or not path.startswith("/") or path == "/":
        raise ConfigError(f"printer url {url!r}: expected serial:///dev/NAME (absolute path)")
    baudrate = int(_number(url, "baudrate", query.get("baudrate", "38400"), int))
    bytesize = int(_number(url, "bytesize", query.get("bytesize", "8"), int))
    if bytesize not in (5, 6, 7, 8):
        raise ConfigError(f"printer url {url!r}: bytesize must be 5, 6, 7 or 8")
    parity = query.get("parity", "N").upper()
    if parity not in ("N", "E", "O", "M", "S"):
        raise ConfigError(f"printer url {url!r}: parity must be one of N, E, O, M, S")
    stopbits = _number(url, "stopbits", query.get("stopbits", "1"), float)
    if stopbits not in (1, 1.5, 2):
        raise ConfigError(f"printer url {url!r}: stopbits must be 1, 1.5 or 2")
    return SerialLink(
        path,
        baudrate=baudrate,
        bytesize=bytesize,
        parity=parity,
        stopbits=stopbits,
        rtscts=_flag(url, "rtscts", query.get("rtscts", "0")),
        xonxoff=_flag(url, "xonxoff", query.get("xonxoff", "0")),
        url=url,
    )


def _usb(url: str, netloc: str, path: str, query: dict[str, str]) -> Link:
    from receiptd.links.usb import UsbLink

    _check_keys(url, query, ("serial", "interface"))
    vendor, sep, product = netloc.partition(":")
    ids = (vendor, product)
    if (
        not sep
        or path not in ("", "/")
        or not all(len(x) == 4 and all(c in "0123456789abcdefABCDEF" for c in x) for x in ids)
    ):
        raise ConfigError(f"printer url {url!r}: expected usb://VVVV:PPPP (4 hex digits each)")
    serial = query.get("serial")
    if serial is not None and not serial:
        raise ConfigError(f"printer url {url!r}: serial= is empty")
    interface = None
    if "interface" in query:
        text = query["interface"]
        if not text.isdigit() or int(text) > 255:
            raise ConfigError(f"printer url {url!r}: interface={text!r} must be 0-255")
        interface = int(text)
    return UsbLink(
        int(vendor, 16),
        int(product, 16),
        serial=serial,
        interface=interface,
        url=url,
        backend=usb_backend_from_env(),
    )


def usb_backend_from_env() -> Any:
    """The pyusb backend named by RECEIPTD_USB_BACKEND=module:function, else None (pyusb's
    own choice). Called when the URL is parsed, so a bad value fails at configuration time."""
    spec = os.environ.get(ENV_USB_BACKEND, "").strip()
    if not spec:
        return None
    module, _, func = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), func)()
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"{ENV_USB_BACKEND}={spec!r}: expected module:function: {exc}") from exc
