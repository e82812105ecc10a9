"""Serial link: an RS-232 / USB-serial printer (or the emulator's pseudo-terminal).

pyserial opens and configures the port (termios, exclusive lock); the byte I/O is done on its
descriptor directly because pyserial's own calls get two things wrong for us: `read(n)` waits
for n bytes, and `write()` with `write_timeout` raises without saying how much went out (and
spins on EAGAIN with a zero timeout).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from typing import Any

import serial

from receiptd.errors import LinkClosed, LinkError
from receiptd.links import log_wire, timed_out, wait_fd, write_lock

READ_SIZE = 4096
# A vanished USB-serial adapter or a closed pty master shows up as one of these.
_GONE = {errno.EIO, errno.ENXIO, errno.ENODEV, errno.EPIPE, errno.EBADF, errno.ENOENT}


class SerialLink:
    kind = "serial"

    def __init__(
        self,
        path: str,
        *,
        baudrate: int = 38400,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        xonxoff: bool = False,
        url: str | None = None,
    ) -> None:
        self.path = path
        self.settings: dict[str, Any] = {
            "baudrate": baudrate,
            "bytesize": bytesize,
            "parity": parity,
            "stopbits": stopbits,
            "rtscts": rtscts,
            "xonxoff": xonxoff,
        }
        self.url = url or f"serial://{path}?baudrate={baudrate}"
        self._port: Any = None  # serial.Serial
        self._fd = -1
        self._wake: tuple[int, int] | None = None  # pipe that close() uses to wake waiters
        self._rlock = threading.Lock()
        self._wlock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SerialLink {self.url} {'open' if self._port else 'closed'}>"

    def present(self) -> bool:
        """True if the device node exists (a USB-serial adapter is plugged in)."""
        return os.path.exists(self.path)

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            port = serial.Serial(timeout=0, write_timeout=0, exclusive=True, **self.settings)
            port.port = self.path
            port.open()
        except (serial.SerialException, OSError) as exc:
            if not self.present() or getattr(exc, "errno", None) in _GONE:
                raise LinkClosed(f"{self.url}: no device: {exc}") from exc
            raise LinkError(f"{self.url}: cannot open: {exc}") from exc
        except ValueError as exc:  # a setting the port or driver rejects
            raise LinkError(f"{self.url}: cannot configure: {exc}") from exc
        self._fd = port.fileno()
        os.set_blocking(self._fd, False)
        self._wake = os.pipe()
        self._port = port

    def close(self) -> None:
        port, wake = self._port, self._wake
        if port is None or wake is None:
            return
        self._port = None
        os.write(wake[1], b"x")
        # Wait for in-flight read/write to leave the descriptor before it is freed.
        with self._rlock, self._wlock:
            with contextlib.suppress(serial.SerialException, OSError):  # already gone
                port.close()
            self._fd = -1
            self._wake = None
            os.close(wake[0])
            os.close(wake[1])

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._rlock:
            while True:
                fd, wake = self._require()
                remaining = deadline - time.monotonic()
                # Read only after poll() says ready: with VMIN=0 a tty read returns b""
                # when idle, so b"" after "ready" is the hang-up of a vanished device.
                if not wait_fd(fd, write=False, timeout=max(0.0, remaining), wake=wake):
                    self._require()
                    if remaining <= 0:
                        return b""
                    continue
                try:
                    data = os.read(fd, READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    raise self._error(exc) from exc
                if not data:
                    raise LinkClosed(f"{self.url}: device disconnected (hang-up)")
                log_wire(self.url, "<", data)
                return data

    def write(self, data: bytes, timeout: float) -> None:
        deadline, view, sent = time.monotonic() + timeout, memoryview(data), 0
        with write_lock(self._wlock, timeout, self.url):
            while sent < len(view):
                fd, wake = self._require()
                try:
                    n = os.write(fd, view[sent:])
                except (BlockingIOError, InterruptedError):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise timed_out(self.url, sent, len(view)) from None
                    wait_fd(fd, write=True, timeout=remaining, wake=wake)
                    continue
                except OSError as exc:
                    raise self._error(exc) from exc
                log_wire(self.url, ">", view[sent : sent + n])
                sent += n

    # -- internals -------------------------------------------------------------------------

    def _require(self) -> tuple[int, int]:
        if self._port is None or self._wake is None:
            raise LinkClosed(f"{self.url}: link is not open")
        return self._fd, self._wake[0]

    def _error(self, exc: OSError) -> LinkError:
        if self._port is None:
            return LinkClosed(f"{self.url}: link was closed")
        if exc.errno in _GONE:
            return LinkClosed(f"{self.url}: device gone: {exc}")
        return LinkError(f"{self.url}: I/O error: {exc}")
