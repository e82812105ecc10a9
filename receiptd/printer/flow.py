"""Flow marks: how much of a print the printer has *printed*, so its receive buffer never fills.

A printer reads a real-time command (``DLE DC4 8``, clear the buffers) as it arrives, but only
while its receive buffer has room. Faulting with a full buffer (a long receipt streams faster
than it prints), it reads the clear only after printing what fills the buffer once the fault
is cleared: the tail of the cut-short slip comes out, and if the fault came just after a
reprint's marker, that tail starts at the top of the receipt and reads like an unmarked copy.

So between the commands of a long print the spooler places flow marks, process IDs (``GS ( H``
fn 48) of the session's own that the printer answers once everything before them is printed,
and before each piece waits until the bytes written but not yet printed fit ``FLOW_LIMIT``.
The buffer then always has room for the clear. A mark's ID ends in a space, which the IDs of
prints never hold, so a flow mark can never confirm a print.

Only printers that hand process IDs back are paced this way; a piece that holds no command
boundary (one large raster image) still goes out whole.
"""

from __future__ import annotations

#: Bytes written but not yet printed that a paced print keeps at most: half the 4 KB receive
#: buffer of most models, so a clear always finds room, and still about half a second of
#: text at 250 mm/s in hand.
FLOW_LIMIT = 2048
_MAX_OPEN = 64


class FlowMarks:
    """The flow marks of one connection: which are open, and how far the printed data goes.

    Written by the spooler's thread (``mark``) and the session's (``answered``), both under
    the session's locks; ``reset`` on a new connection or a printer reset."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}  # pid -> print data written before it
        self._n = 0
        self.printed = 0  # the most of the print data a flow mark has proven printed

    def mark(self, written: int) -> str | None:
        """The ID of a new mark behind ``written`` bytes (None: enough are open already)."""
        if len(self._open) >= _MAX_OPEN:
            return None
        self._n = (self._n + 1) % 1000
        pid = f"{self._n:03d} "
        self._open[pid] = written
        return pid

    def unplace(self, pid: str) -> None:
        """A mark whose write failed before it went out."""
        self._open.pop(pid, None)

    def answered(self, pid: str) -> bool:
        """Is ``pid`` one of our marks? If so, everything before it is printed."""
        written = self._open.pop(pid, None)
        if written is None:
            return False
        self.printed = max(self.printed, written)
        for other, at in list(self._open.items()):  # answered in order: earlier ones are done
            if at <= written:
                del self._open[other]
        return True

    def has_room(self, written: int, limit: int = FLOW_LIMIT) -> bool:
        """May more be written now? Yes once the unprinted bytes fit ``limit``, or when no
        open mark could prove more printed (waiting would then wait for nothing)."""
        return written - self.printed <= limit or not self._open

    def reset(self, written: int) -> None:
        """New connection or printer reset: nothing before is owed an answer."""
        self._open.clear()
        self.printed = written
