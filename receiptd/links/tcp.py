"""TCP link: a raw socket to the printer's RAW/JetDirect port (9100).

The socket is non-blocking; every wait is a poll() bounded by the caller's timeout, so a
printer that stops reading (paper out: its buffer fills) costs at most `timeout` per write.
"written" counts bytes the kernel accepted, not bytes the printer consumed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time

from receiptd.errors import LinkClosed, LinkError
from receiptd.links import log_wire, timed_out, wait_fd, write_lock

DEFAULT_PORT = 9100
READ_SIZE = 4096
_SEND_SIZE = 65536
# Dead-peer detection while idle: ~10 s idle, then 3 probes 5 s apart.
_KEEPALIVE = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))


class TcpLink:
    kind = "tcp"

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        connect_timeout: float = 3.0,
        url: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.url = url or f"tcp://{host}:{port}"
        self._sock: socket.socket | None = None
        self._rlock = threading.Lock()
        self._wlock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TcpLink {self.url} {'open' if self._sock else 'closed'}>"

    def open(self) -> None:
        if self._sock is not None:
            return
        sock = self._connect(self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE:
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        self._sock = sock

    def present(self) -> bool:
        """True if a TCP connect succeeds within min(connect_timeout, 1 s).

        The probe connection is closed at once and carries no data. Printers with a single
        RAW session may refuse or queue it while connected: call this only while closed.
        """
        try:
            self._connect(min(self.connect_timeout, 1.0)).close()
        except LinkError:
            return False
        return True

    def close(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a reader/writer blocked in poll()
        # Wait for in-flight read/write to leave the descriptor before it is freed.
        with self._rlock, self._wlock:
            sock.close()

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._rlock:
            while True:
                sock = self._require()
                try:
                    data = sock.recv(READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return b""
                    wait_fd(sock.fileno(), write=False, timeout=remaining)
                    continue
                except OSError as exc:
                    raise self._gone(exc) from exc
                if not data:
                    raise LinkClosed(f"{self.url}: connection closed by the printer")
                log_wire(self.url, "<", data)
                return data

    def write(self, data: bytes, timeout: float) -> None:
        deadline, view, sent = time.monotonic() + timeout, memoryview(data), 0
        with write_lock(self._wlock, timeout, self.url):
            while sent < len(view):
                sock = self._require()
                try:
                    n = sock.send(view[sent : sent + _SEND_SIZE])
                except (BlockingIOError, InterruptedError):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise timed_out(self.url, sent, len(view)) from None
                    wait_fd(sock.fileno(), write=True, timeout=remaining)
                    continue
                except OSError as exc:
                    raise self._gone(exc) from exc
                log_wire(self.url, ">", view[sent : sent + n])
                sent += n

    # -- internals -------------------------------------------------------------------------

    def _require(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            raise LinkClosed(f"{self.url}: link is not open")
        return sock

    def _gone(self, exc: OSError) -> LinkError:
        if self._sock is None or exc.errno == errno.EBADF:
            return LinkClosed(f"{self.url}: link was closed")
        return LinkClosed(f"{self.url}: connection lost: {exc}")

    def _connect(self, timeout: float) -> socket.socket:
        deadline = time.monotonic() + timeout
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise LinkClosed(f"{self.url}: cannot resolve {self.host!r}: {exc}") from exc
        last: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                err = sock.connect_ex(address)
                if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                    remaining = deadline - time.monotonic()
                    if wait_fd(sock.fileno(), write=True, timeout=remaining):
                        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    else:
                        err = errno.ETIMEDOUT
                if err == 0:
                    return sock
                last = OSError(err, os.strerror(err))
            except OSError as exc:
                last = exc
            sock.close()
        raise LinkClosed(f"{self.url}: cannot connect: {last}")
