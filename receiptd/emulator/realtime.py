"""Real-time commands: the ones a printer runs the moment they arrive.

``DLE EOT n``, ``DLE ENQ n`` and ``DLE DC4 ...`` are answered by the printer's receive interrupt,
not by the interpreter: they are recognised anywhere in the byte stream, even inside image data,
offline, in an error or with a full receive buffer. ``RealtimeScanner`` watches every received
byte the same way; ``realtime_length`` finds one at the head of bytes that cannot be buffered.
"""

from __future__ import annotations

DLE = 0x10

# DLE DC4 8: clear the receive and print buffers (the only real-time command this long).
DLE_DC4_CLEAR = bytes.fromhex("10 14 08 01 03 14 01 06 02 08")
_DLE_DC4_POWER_OFF = b"\x10\x14\x02\x01\x08"


def realtime_state(seq: bytes | bytearray) -> bool | None:
    """True: ``seq`` is a complete real-time command; False: a valid prefix; None: neither."""
    n = len(seq)
    if n == 0 or seq[0] != DLE:
        return None
    if n == 1:
        return False
    fn = seq[1]
    if fn == 0x04:  # DLE EOT n
        if n == 2:
            return False
        return True if n == 3 and 1 <= seq[2] <= 4 else None
    if fn == 0x05:  # DLE ENQ n
        if n == 2:
            return False
        return True if n == 3 and seq[2] <= 2 else None
    if fn != 0x14:
        return None
    if n == 2:
        return False
    sub = seq[2]
    if sub == 0x08:
        if bytes(seq) == DLE_DC4_CLEAR[:n]:
            return n == len(DLE_DC4_CLEAR)
        return None
    if sub == 0x07:  # DLE DC4 7 m
        if n == 3:
            return False
        return True if n == 4 and seq[3] in (1, 2, 4) else None
    if sub == 0x01:  # DLE DC4 1 m t: drawer pulse
        if n == 3:
            return False
        if seq[3] not in (0, 1):
            return None
        if n == 4:
            return False
        return True if n == 5 and 1 <= seq[4] <= 8 else None
    if sub == 0x02:  # DLE DC4 2 1 8: power off
        if bytes(seq) == _DLE_DC4_POWER_OFF[:n]:
            return n == 5
        return None
    return None


def realtime_length(data: bytes | bytearray) -> int:
    """Length of a complete real-time command at the start of ``data``, else 0."""
    for k in range(1, min(len(data), len(DLE_DC4_CLEAR)) + 1):
        state = realtime_state(data[:k])
        if state is None:
            return 0
        if state:
            return k
    return 0


class RealtimeScanner:
    """Feed it every received byte; it returns each real-time command as it completes."""

    def __init__(self) -> None:
        self._seq = bytearray()

    @property
    def idle(self) -> bool:
        return not self._seq

    def reset(self) -> None:
        self._seq.clear()

    def push(self, byte: int) -> bytes | None:
        self._seq.append(byte)
        state = realtime_state(self._seq)
        if state is True:
            done = bytes(self._seq)
            self._seq.clear()
            return done
        if state is None:
            self._seq.clear()
            if byte == DLE:
                self._seq.append(byte)
        return None
