"""A fake pyusb backend: one USB printer whose bulk endpoints are bridged to a TCP address.

Put the printer emulator (or any TCP server) behind a USB link without hardware::

    RECEIPTD_USB_BACKEND=receiptd.testing.fakeusb:get_backend
    RECEIPTD_FAKEUSB_TARGET=127.0.0.1:9100      # where bulk traffic goes
    RECEIPTD_FAKEUSB_STATE=/tmp/fakeusb.state   # optional: "plugged" / "unplugged"

The device is an Epson 04b8:0e28, serial "FAKE0001": one configuration, interface 0 of class 7
(printer, bidirectional) with bulk OUT 0x01 and bulk IN 0x82, string descriptors, and answers
to GET_PORT_STATUS and GET_DEVICE_ID. Bulk OUT is sent on a TCP connection that is made on the
first bulk transfer of a handle; bulk IN receives from it.

The state file works across processes. While it reads ``unplugged`` the device is not
enumerated and every call on an existing handle raises ``USBError`` with errno ENODEV, as
libusb does. Any change of the file's content back to ``plugged…`` is a re-enumeration:
handles opened before stay dead (ENODEV), a new open makes a new TCP connection. A missing
file means plugged. Errors mirror pyusb's libusb1 backend: ``USBTimeoutError("Operation timed
out", -7, ETIMEDOUT)``, partial transfers return their count, ``timeout=0`` waits forever.
"""

from __future__ import annotations

import array
import errno
import os
import select
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace as _Desc

import usb.backend
import usb.core

ENV_TARGET = "RECEIPTD_FAKEUSB_TARGET"
ENV_STATE = "RECEIPTD_FAKEUSB_STATE"

VENDOR, PRODUCT, SERIAL = 0x04B8, 0x0E28, "FAKE0001"
EP_OUT, EP_IN = 0x01, 0x82
STRINGS = {1: "EPSON", 2: "TM-T88V (fake USB)", 3: SERIAL}
DEVICE_ID = b"MFG:EPSON;CMD:ESC/POS;MDL:TM-T88V;CLS:PRINTER;DES:EPSON TM-T88V (fake USB);"
PORT_STATUS = 0x18  # selected, no error, paper present

_LIBUSB_ERROR_IO, _LIBUSB_ERROR_NO_DEVICE, _LIBUSB_ERROR_TIMEOUT = -1, -4, -7
_LIBUSB_ERROR_PIPE = -9


def _no_device() -> usb.core.USBError:
    return usb.core.USBError(
        "No such device (it may have been disconnected)", _LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


def _timed_out() -> usb.core.USBError:
    return usb.core.USBTimeoutError("Operation timed out", _LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


def _stall() -> usb.core.USBError:
    return usb.core.USBError("Pipe error", _LIBUSB_ERROR_PIPE, errno.EPIPE)


# -- plug state ------------------------------------------------------------------------------


def _write_state(state_path: str | os.PathLike[str], text: str) -> None:
    path = Path(state_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)  # atomic: another process never reads half a state


def unplug(state_path: str | os.PathLike[str]) -> None:
    """Make the fake device disappear (in every process using this state file)."""
    _write_state(state_path, "unplugged")


def replug(state_path: str | os.PathLike[str]) -> None:
    """Plug the fake device in again; it re-enumerates as a new device."""
    _write_state(state_path, f"plugged {time.time_ns()}")


def _read_state(state_path: str | None) -> str | None:
    """The current generation (file content) while plugged, None while unplugged."""
    if not state_path:
        return ""
    try:
        text = Path(state_path).read_text().strip()
    except FileNotFoundError:
        return ""
    return None if text.startswith("unplugged") else text


# -- descriptors -----------------------------------------------------------------------------


def _endpoint(address: int) -> _Desc:
    return _Desc(bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=2,
                      wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0,
                      extra_descriptors=[])  # fmt: skip


_CONFIG = _Desc(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
                     bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=50,
                     extra_descriptors=[])  # fmt: skip
_INTERFACE = _Desc(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                        bNumEndpoints=2, bInterfaceClass=7, bInterfaceSubClass=1,
                        bInterfaceProtocol=2, iInterface=0, extra_descriptors=[])  # fmt: skip
_ENDPOINTS = (_endpoint(EP_OUT), _endpoint(EP_IN))


@dataclass(frozen=True)
class _Device:
    generation: str


@dataclass
class _Handle:
    generation: str
    sock: socket.socket | None = None
    dead: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- the backend -----------------------------------------------------------------------------


class FakeUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    def __init__(self, target: str | None = None, state_path: str | None = None) -> None:
        super().__init__()
        self.target = target if target is not None else os.environ.get(ENV_TARGET, "")
        self.state_path = state_path if state_path is not None else os.environ.get(ENV_STATE)

    # enumeration and descriptors

    def enumerate_devices(self) -> list[_Device]:
        generation = _read_state(self.state_path)
        return [] if generation is None else [_Device(generation)]

    def get_parent(self, dev: _Device) -> None:
        return None

    def get_device_descriptor(self, dev: _Device) -> _Desc:
        return _Desc(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0,
                          bDeviceSubClass=0, bDeviceProtocol=0, bMaxPacketSize0=64,
                          idVendor=VENDOR, idProduct=PRODUCT, bcdDevice=0x0100, iManufacturer=1,
                          iProduct=2, iSerialNumber=3, bNumConfigurations=1, bus=1,
                          address=2 + zlib.crc32(dev.generation.encode()) % 120,
                          port_number=1, port_numbers=(1,), speed=2)  # fmt: skip

    def get_configuration_descriptor(self, dev: _Device, config: int) -> _Desc:
        if config != 0:
            raise IndexError(f"Invalid configuration index {config}")
        return _CONFIG

    def get_interface_descriptor(self, dev: _Device, intf: int, alt: int, config: int) -> _Desc:
        self.get_configuration_descriptor(dev, config)
        if intf != 0 or alt != 0:
            raise IndexError(f"Invalid interface {intf} / alternate setting {alt}")
        return _INTERFACE

    def get_endpoint_descriptor(
        self, dev: _Device, ep: int, intf: int, alt: int, config: int
    ) -> _Desc:
        self.get_interface_descriptor(dev, intf, alt, config)
        if not 0 <= ep < len(_ENDPOINTS):
            raise IndexError(f"Invalid endpoint index {ep}")
        return _ENDPOINTS[ep]

    # handles

    def open_device(self, dev: _Device) -> _Handle:
        if _read_state(self.state_path) != dev.generation:
            raise _no_device()
        return _Handle(dev.generation)

    def close_device(self, dev_handle: _Handle) -> None:
        self._drop(dev_handle)

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._alive(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._alive(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._alive(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._alive(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        self._alive(dev_handle)
        self._drop(dev_handle)
        dev_handle.dead = False  # a reset keeps the handle; the bridge reconnects

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        self._alive(dev_handle)
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle)

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle)

    # transfers

    def bulk_write(
        self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        if ep != EP_OUT:
            raise _stall()
        sock = self._bridge(dev_handle)
        payload, sent = data.tobytes(), 0
        deadline = None if timeout == 0 else time.monotonic() + timeout / 1000
        while sent < len(payload):
            try:
                sent += sock.send(payload[sent:])
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                raise self._lost(dev_handle) from None
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if sent:
                    return sent  # libusb reports a partial transfer as its count
                raise _timed_out()
            try:
                select.select([], [sock], [], remaining)
            except (OSError, ValueError):
                raise self._lost(dev_handle) from None
        return sent

    def bulk_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        if ep != EP_IN:
            raise _stall()
        sock = self._bridge(dev_handle)
        try:
            ready, _, _ = select.select([sock], [], [], None if timeout == 0 else timeout / 1000)
        except (OSError, ValueError):  # the bridge was dropped by another thread
            raise self._lost(dev_handle) from None
        if not ready:
            self._alive(dev_handle)
            raise _timed_out()
        try:
            data = sock.recv(len(buff) * buff.itemsize)
        except (BlockingIOError, InterruptedError):
            raise _timed_out() from None
        except OSError:
            raise self._lost(dev_handle) from None
        if not data:  # the printer behind the bridge went away: so did the device
            raise self._lost(dev_handle)
        buff[: len(data)] = array.array("B", data)
        return len(data)

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        self._alive(dev_handle)
        if not bmRequestType & 0x80:
            return len(data) * data.itemsize  # OUT requests (e.g. SOFT_RESET) are accepted
        reply = self._control_in(bmRequestType, bRequest, wValue)
        n = min(len(reply), len(data) * data.itemsize)
        data[:n] = array.array("B", reply[:n])
        return n

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _control_in(request_type: int, request: int, value: int) -> bytes:
        if (request_type, request) == (0x80, 0x06) and value >> 8 == 3:  # GET_DESCRIPTOR string
            index = value & 0xFF
            if index == 0:
                return bytes([4, 3, 0x09, 0x04])  # LANGID en-US
            if index in STRINGS:
                text = STRINGS[index].encode("utf-16-le")
                return bytes([2 + len(text), 3]) + text
        if (request_type, request) == (0xA1, 0x00):  # GET_DEVICE_ID, big-endian length first
            return (len(DEVICE_ID) + 2).to_bytes(2, "big") + DEVICE_ID
        if (request_type, request) == (0xA1, 0x01):  # GET_PORT_STATUS
            return bytes([PORT_STATUS])
        raise _stall()

    def _alive(self, handle: _Handle) -> None:
        if handle.dead or _read_state(self.state_path) != handle.generation:
            self._drop(handle)
            handle.dead = True
            raise _no_device()

    def _lost(self, handle: _Handle) -> usb.core.USBError:
        self._drop(handle)
        handle.dead = True
        return _no_device()

    @staticmethod
    def _drop(handle: _Handle) -> None:
        with handle.lock:
            sock, handle.sock = handle.sock, None
        if sock is not None:
            sock.close()

    def _bridge(self, handle: _Handle) -> socket.socket:
        self._alive(handle)
        with handle.lock:
            if handle.sock is None:
                host, _, port = self.target.rpartition(":")
                if not host or not port.isdigit():
                    raise usb.core.USBError(
                        f"{ENV_TARGET}={self.target!r}: expected HOST:PORT", _LIBUSB_ERROR_IO,
                        errno.EIO,
                    )  # fmt: skip
                try:
                    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=2.0)
                except OSError:
                    handle.dead = True
                    raise _no_device() from None
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                handle.sock = sock
            return handle.sock


def get_backend() -> FakeUsbBackend:
    """Entry point for ``RECEIPTD_USB_BACKEND=receiptd.testing.fakeusb:get_backend``."""
    return FakeUsbBackend()
