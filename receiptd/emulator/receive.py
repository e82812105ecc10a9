"""The receive side: the buffer the host's bytes wait in, and the link's byte rate.

Bytes go into the buffer as they arrive and every one is shown to the real-time scanner, so a
``DLE EOT`` is answered at once even behind a stopped receipt. The interpreter takes commands
from the head of the buffer; a command's data (an image, say) is counted out of the buffer as
it arrives, so data larger than the whole buffer streams through it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from receiptd.emulator.commands import Command, decode
from receiptd.emulator.realtime import DLE, RealtimeScanner
from receiptd.emulator.transcript import Transcript


class ReceiveBuffer:
    def __init__(self, size: int, transcript: Transcript) -> None:
        self.size = size
        self.transcript = transcript
        self.data = bytearray()
        self.scanner = RealtimeScanner()
        self.current: Command | None = None  # the command being read (its data still coming)
        self.payload = bytearray()  # the data of ``current`` read so far
        self.received = 0  # bytes taken from the host, ever (arms ``after_bytes``)

    @property
    def free(self) -> int:
        return max(0, self.size - len(self.data))

    @property
    def used(self) -> int:
        return len(self.data) + len(self.payload)

    def receive(self, chunk: bytes, on_realtime: Callable[[bytes], None]) -> None:
        """Buffer ``chunk``; call ``on_realtime`` for each real-time command as it completes."""
        i = 0
        while i < len(chunk):
            if self.scanner.idle:
                j = chunk.find(DLE, i)
                if j < 0:
                    self.data += chunk[i:]
                    return
                self.data += chunk[i:j]
                i = j
            b = chunk[i]
            self.data.append(b)
            done = self.scanner.push(b)
            if done is not None:
                on_realtime(done)
            i += 1

    def decode_head(self, dbcs: str | None) -> Command | None:
        """The command the buffered bytes start with (the dialect's decoder), if complete."""
        return decode(self.data, dbcs)

    def next_command(self, dbcs: str | None) -> Command | None:
        """The command at the head, once its data is all in; ``None`` while bytes are missing."""
        if self.current is None:
            cmd = self.decode_head(dbcs)
            if cmd is None:
                if len(self.data) >= self.size:
                    # A command longer than the whole buffer can never complete: drop a byte.
                    cmd = Command("unknown", bytes(self.data[:2]))
                    del self.data[:1]
                    self.transcript.add({"type": "unknown", "bytes": cmd.header.hex(" ").upper()})
                return None
            del self.data[: len(cmd.header)]
            self.current = cmd
        cmd = self.current
        need = cmd.payload_len - len(self.payload)
        if need > 0:
            take = self.data[:need]
            self.payload += take
            del self.data[: len(take)]
            if len(self.payload) < cmd.payload_len:
                return None
        return cmd

    def take_payload(self) -> bytes:
        """The current command is done: its data, and the buffer ready for the next one."""
        payload = bytes(self.payload)
        self.current, self.payload = None, bytearray()
        return payload

    def clear(self) -> None:
        self.data.clear()
        self.scanner.reset()
        self.current = None
        self.payload = bytearray()


class RateLimiter:
    """A token bucket: at most ``rate`` bytes per second, in bursts of 50 ms (16 bytes least)."""

    def __init__(self, now: float) -> None:
        self._tokens = 0.0
        self._at = now

    def allowance(self, rate: float | None, now: float) -> float:
        if not rate:
            return math.inf
        burst = max(16.0, rate * 0.05)
        self._tokens = min(burst, self._tokens + (now - self._at) * rate)
        self._at = now
        return max(0.0, math.floor(self._tokens))

    def spend(self, n: int) -> None:
        self._tokens -= n
