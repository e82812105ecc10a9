"""USB link: a USB printer-class device (interface class 7) through pyusb.

`backend=None` lets pyusb choose (libusb1, openusb, libusb0); `link_for_url()` passes the one
named by ``RECEIPTD_USB_BACKEND`` (see `receiptd.links.usb_backend_from_env`).
Transfers run in slices of at most 0.5 s so `close()` from another thread is prompt; libusb
reports a partial transfer on timeout, so slicing loses no byte count.
"""

from __future__ import annotations

import contextlib
import errno
import math
import threading
import time
from typing import Any

import usb.core
import usb.util

from receiptd.errors import LinkClosed, LinkError
from receiptd.links import log_wire, timed_out, write_lock

_SLICE, _CHUNK = 0.5, 4096
_GONE = {errno.ENODEV, errno.EIO, errno.ENOENT, errno.EPIPE}


def _is_timeout(exc: usb.core.USBError) -> bool:
    # -7 is LIBUSB_ERROR_TIMEOUT; pyusb's libusb1 backend raises USBTimeoutError with it.
    return exc.errno == errno.ETIMEDOUT or getattr(exc, "backend_error_code", None) == -7


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))  # libusb: 0 would mean "wait forever"


class UsbLink:
    kind = "usb"

    def __init__(
        self,
        vendor: int,
        product: int,
        *,
        serial: str | None = None,
        interface: int | None = None,
        url: str | None = None,
        backend: Any = None,
    ) -> None:
        self.vendor, self.product, self.serial, self.interface = vendor, product, serial, interface
        self.url = url or f"usb://{vendor:04x}:{product:04x}"
        self._backend = backend
        self._dev: Any = None
        self._ifnum, self._ep_out, self._ep_in = 0, None, None  # set by _claim()
        self._closing = threading.Event()
        self._rlock, self._wlock = threading.Lock(), threading.Lock()

    def __repr__(self) -> str:
        return f"<UsbLink {self.url} {'open' if self._dev is not None else 'closed'}>"

    def present(self) -> bool:
        """True if the device is enumerated (with the wanted serial number, if one is set)."""
        try:
            dev = self._find()
        except LinkError:
            return False
        if dev is not None:  # a fresh Device object, never self._dev
            usb.util.dispose_resources(dev)
        return dev is not None

    def open(self) -> None:
        if self._dev is not None:
            return
        self._closing.clear()
        dev = self._find()
        if dev is None:
            raise LinkClosed(f"{self.url}: USB device not found")
        try:
            self._claim(dev)
        except (usb.core.USBError, LinkError) as exc:
            usb.util.dispose_resources(dev)
            raise self._error(exc) from exc
        self._dev = dev

    def close(self) -> None:
        if self._dev is None:
            return
        self._closing.set()
        with self._rlock, self._wlock:  # transfers end within one slice
            dev, self._dev = self._dev, None
            with contextlib.suppress(usb.core.USBError):  # unplugged: nothing to release
                usb.util.dispose_resources(dev)

    def write(self, data: bytes, timeout: float) -> None:
        deadline, sent = time.monotonic() + timeout, 0
        with write_lock(self._wlock, timeout, self.url):
            while sent < len(data):
                dev, remaining = self._require(), deadline - time.monotonic()
                if remaining <= 0:
                    raise timed_out(self.url, sent, len(data))
                chunk = data[sent : sent + _CHUNK]
                try:
                    n = int(dev.write(self._ep_out, chunk, _ms(min(remaining, _SLICE))))
                except usb.core.USBError as exc:
                    if not _is_timeout(exc):
                        raise self._error(exc) from exc
                    continue
                log_wire(self.url, ">", chunk[:n])
                sent += n

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        if self._ep_in is None:  # write-only printer: nothing will ever come
            self._require()
            self._closing.wait(max(0.0, timeout))
            self._require()
            return b""
        with self._rlock:
            while True:
                dev, remaining = self._require(), deadline - time.monotonic()
                size = max(_CHUNK, int(self._ep_in.wMaxPacketSize))
                try:
                    data = bytes(dev.read(self._ep_in, size, _ms(min(remaining, _SLICE))))
                except usb.core.USBError as exc:
                    if not _is_timeout(exc):
                        raise self._error(exc) from exc
                    data = b""
                if data:
                    log_wire(self.url, "<", data)
                    return data
                if deadline - time.monotonic() <= 0:
                    return b""

    def port_status(self) -> int | None:
        """GET_PORT_STATUS (bit 3 not error, 4 selected, 5 paper empty); None: unsupported."""
        dev = self._require()
        try:
            reply = dev.ctrl_transfer(0xA1, 0x01, 0, self._ifnum, 1, 1000)
        except usb.core.USBError as exc:
            if _is_timeout(exc) or exc.errno == errno.EPIPE:  # EPIPE: a stall = unsupported
                return None
            raise self._error(exc) from exc
        return int(reply[0]) if len(reply) else None

    # -- internals -------------------------------------------------------------------------

    def _require(self) -> Any:
        dev = self._dev
        if dev is None or self._closing.is_set():
            raise LinkClosed(f"{self.url}: link is not open")
        return dev

    def _error(self, exc: usb.core.USBError | LinkError) -> LinkError:
        if isinstance(exc, LinkError):
            return exc
        if self._closing.is_set():
            return LinkClosed(f"{self.url}: link was closed")
        if exc.errno in _GONE or "No such device" in str(exc):
            return LinkClosed(f"{self.url}: device gone: {exc}")
        return LinkError(f"{self.url}: USB error: {exc}")

    def _find(self) -> Any:
        ids = {"idVendor": self.vendor, "idProduct": self.product}
        try:
            return usb.core.find(backend=self._backend, custom_match=self._matches, **ids)
        except usb.core.NoBackendError as exc:
            raise LinkError(f"{self.url}: no pyusb backend (is libusb installed?)") from exc
        except usb.core.USBError as exc:
            raise self._error(exc) from exc

    def _matches(self, dev: Any) -> bool:
        # An unreadable serial (no permission, no strings) is not ours to claim.
        with contextlib.suppress(usb.core.USBError, ValueError, NotImplementedError):
            return self.serial is None or bool(dev.serial_number == self.serial)
        return False

    def _claim(self, dev: Any) -> None:
        # Not set_configuration(): the kernel configured the device at enumeration, and
        # setting it again fails (EBUSY) while another interface has a driver bound.
        cfg = dev.get_active_configuration()
        num = self.interface
        want = {"bInterfaceClass": 7} if num is None else {"bInterfaceNumber": num}
        intf = usb.util.find_descriptor(cfg, **want)
        if intf is None:
            raise LinkError(f"{self.url}: no printer interface (class 7 or interface=N)")
        self._ifnum = int(intf.bInterfaceNumber)
        with contextlib.suppress(NotImplementedError):  # backends without kernel drivers
            if dev.is_kernel_driver_active(self._ifnum):
                dev.detach_kernel_driver(self._ifnum)  # usblp holds it otherwise
        usb.util.claim_interface(dev, self._ifnum)
        bulk = [e for e in intf if usb.util.endpoint_type(e.bmAttributes) == 2]  # 2: bulk
        self._ep_out = next((e for e in bulk if not e.bEndpointAddress & 0x80), None)
        self._ep_in = next((e for e in bulk if e.bEndpointAddress & 0x80), None)
        if self._ep_out is None:
            raise LinkError(f"{self.url}: interface {self._ifnum} has no bulk OUT endpoint")
