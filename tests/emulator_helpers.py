"""Shared pieces of the emulator tests: ESC/POS bytes written out by hand, and a host.

The byte sequences come from the Epson reference, not from ``receiptd.protocol``: the emulator
must not share the daemon's mistakes.
"""

from __future__ import annotations

import socket
import time

ESC, GS = b"\x1b", b"\x1d"
INIT = ESC + b"@"
# GS V 65 0: feed to the cutting position and cut through (function B; 66 would leave a
# point uncut). Epson ESC/POS Command Reference, "GS V: Select cut mode and cut paper".
CUT = GS + b"V\x41\x00"
CLEAR = bytes.fromhex("10 14 08 01 03 14 01 06 02 08")


def pid(d: bytes) -> bytes:
    return GS + b"(H\x06\x00\x30\x30" + d


class Host:
    """The host side of a printer connection (what the daemon's link does)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, n: int, timeout: float = 3.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"wanted {n} bytes, got {bytes(self.buf).hex(' ')}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("printer closed the connection")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_block(self, timeout: float = 3.0) -> bytes:
        """A 0x37/0x5F/0x3B header block, up to and including its NUL."""
        out = bytearray()
        while not out.endswith(b"\x00"):
            out += self.read(1, timeout)
        return bytes(out)

    def silent_for(self, seconds: float) -> bool:
        """True when nothing arrives for ``seconds``."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(4096)
        except TimeoutError:
            return True
        self.buf += chunk
        return False

    def status(self, n: int) -> int:
        self.send(bytes([0x10, 0x04, n]))
        return self.read(1)[0]

    def close(self) -> None:
        self.sock.close()
