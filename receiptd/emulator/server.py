"""Host transports: a TCP port (like a printer's port 9100) and a pseudo-terminal (serial).

Both read from the host only as fast as the printer takes bytes: when the receive buffer is full
or the printer hangs, they stop reading, the kernel buffers fill, and the host's writes block —
real backpressure. Replies go back the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import struct
import threading
import tty

from receiptd.emulator.engine import Engine

POLL_S = 0.003
# Bytes read off the wire that the printer has not taken yet. Kept small: it is the only
# buffering the emulator adds to the modelled receive buffer.
PENDING_MAX = 16
READ_MAX = 4096
SOCKET_BUFFER = 8192  # a printer's TCP window is small


class _Transport:
    source = "host"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = bytearray()
        self._out = bytearray()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"emulator-{self.source}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._close()

    def _run(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _offer(self) -> None:
        if self._pending:
            n = self.engine.feed(self.source, bytes(self._pending))
            del self._pending[:n]

    def _read_size(self) -> int:
        """How much to read now: 0 while the printer is not reading from the host."""
        with self.engine.lock:
            if not self.engine.model.reading or len(self._pending) >= PENDING_MAX:
                return 0
            free = self.engine.model.buffer_free
        return max(PENDING_MAX, min(free, READ_MAX)) - len(self._pending)


class TcpTransport(_Transport):
    """One host connection at a time; a second connection waits in the listen backlog."""

    source = "tcp"

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(engine)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        self._listener.bind((host, port))
        self._listener.listen(1)
        self.host, self.port = self._listener.getsockname()[:2]
        self._conn: socket.socket | None = None
        self._epoch = 0
        self._link_epoch = 0
        self.connections = 0  # accepted host connections so far

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._offer()  # bytes that arrived before the host hung up still count
                    self._accept()
                else:
                    self._serve()
            except OSError:
                self._drop()

    def _accept(self) -> None:
        ready, _, _ = select.select([self._listener], [], [], POLL_S * 5)
        if not ready:
            return
        conn, _ = self._listener.accept()
        with self.engine.lock:
            powered = self.engine.model.powered
            self._epoch = self.engine.model.power_epoch
            self._link_epoch = self.engine.model.link_epoch
        if not powered:
            _abort(conn)  # a printer that is off does not talk
            return
        conn.setblocking(False)
        # Status replies are a few bytes each: a printer sends them at once (no Nagle delay).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self.connections += 1
        self._out.clear()
        self.engine.connected(self.source)

    def _serve(self) -> None:
        conn = self._conn
        assert conn is not None
        with self.engine.lock:
            if self.engine.model.power_epoch != self._epoch:
                self._pending.clear()
                self._drop(abort=True)
                return
            if self.engine.model.link_epoch != self._link_epoch:
                self._drop(abort=True)  # bytes already read still reach the printer
                return
        self._offer()
        self._out += self.engine.take_output(self.source)
        size = self._read_size()
        readable, writable, _ = select.select([conn] if size else [], [conn] if self._out else [],
                                              [], POLL_S)
        if readable:
            data = conn.recv(size)
            if not data:
                self._drop()
                return
            self._pending += data
            self._offer()
        if writable and self._out:
            sent = conn.send(self._out)
            del self._out[:sent]

    def _drop(self, abort: bool = False) -> None:
        conn, self._conn = self._conn, None
        self._out.clear()
        if conn is not None:
            if abort:
                _abort(conn)
            else:
                conn.close()

    def _close(self) -> None:
        self._drop()
        self._listener.close()


def _abort(conn: socket.socket) -> None:
    """Close with a reset, as a connection to a printer that lost power ends."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class PtyTransport(_Transport):
    """A pseudo-terminal in raw mode: the host opens ``path`` (or ``link``) like a serial port.

    The emulator keeps the slave side open itself, so a host can close and reopen the port.
    Bytes sent while the printer is off are lost, as on a real serial line.
    """

    source = "pty"

    def __init__(self, engine: Engine, link: str | None = None) -> None:
        super().__init__(engine)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.link = link
        if link:
            with contextlib.suppress(FileNotFoundError):
                if os.path.islink(link):
                    os.unlink(link)
            os.symlink(self.path, link)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve()
            except OSError as exc:
                # EIO/EAGAIN: no host has the port open right now; anything else: we are closing.
                if exc.errno not in (errno.EAGAIN, errno.EIO, errno.EBADF):
                    self._stop.wait(POLL_S * 10)
                self._stop.wait(POLL_S)

    def _serve(self) -> None:
        with self.engine.lock:
            powered = self.engine.model.powered
        if not powered:
            self._pending.clear()
            self._out.clear()
            ready, _, _ = select.select([self._master], [], [], POLL_S)
            if ready:
                os.read(self._master, READ_MAX)  # lost: nobody is listening
            return
        self._offer()
        self._out += self.engine.take_output(self.source)
        size = self._read_size()
        readable, writable, _ = select.select([self._master] if size else [],
                                              [self._master] if self._out else [], [], POLL_S)
        if readable:
            self._pending += os.read(self._master, size)
            self._offer()
        if writable and self._out:
            sent = os.write(self._master, self._out)
            del self._out[:sent]

    def _close(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link and os.path.islink(self.link):
            with contextlib.suppress(OSError):
                os.unlink(self.link)
