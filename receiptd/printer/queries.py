"""Questions the printer answers with a ``5F … 00`` info block: identity and maintenance counters.

An info block does not say which question it answers; the printer answers in the order it was
asked, so the oldest open question takes each answer. Questions lost with the printer's buffer
(a reset, a buffer clear) never answer: ``forget()`` starts the correlation afresh.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from receiptd import protocol

# GS I n, in the order asked. 69, the font of the printer's language ("CHINA GB2312",
# "KANJI JAPANESE", "PC437"), names its double-byte set (``receiptd.printer.selfconfig``).
IDENTITY_QUERIES = ((67, "model"), (66, "maker"), (65, "firmware"), (68, "serial"),
                    (69, "font"))
#: Identity answers that are never all digits: a digits-only block paired with one of them is
#: a maintenance counter (the printer left the question unanswered), not the identity.
_NEVER_NUMERIC = frozenset({"model", "maker", "font"})
# GS g 2 counters asked on connect and refreshed while idle; +128 = cumulative (lifetime).
MAINTENANCE_QUERIES = (
    (20, "lines_fed"), (50, "cuts"), (70, "hours"),
    (20 + protocol.CUMULATIVE, "lines_fed_total"), (50 + protocol.CUMULATIVE, "cuts_total"),
    (70 + protocol.CUMULATIVE, "hours_total"),
)


OPEN_FOR_S = 30.0  # questions older than this were lost (a buffer clear): ask afresh


@dataclass(frozen=True)
class Answer:
    kind: str  # "identity" | "maintenance"
    key: str
    text: str


class InfoQueries:
    """The open questions, oldest first. Used by the session thread (``wanted`` by any)."""

    def __init__(self, maintenance_interval_s: float) -> None:
        self._open: deque[tuple[str, str]] = deque()
        self.interval_s = maintenance_interval_s
        self.maintenance_sent = 0.0  # monotonic time of the last GS g 2 round
        self.wanted = False  # fresh counters asked for (after a print): at the next idle moment

    def __bool__(self) -> bool:
        return bool(self._open)

    def identity(self) -> bytes:
        """GS I for each identity field; the caller writes the bytes."""
        for _, key in IDENTITY_QUERIES:
            self._open.append(("identity", key))
        return b"".join(protocol.identity(n) for n, _ in IDENTITY_QUERIES)

    def maintenance_due(self, now: float) -> bool:
        """Time for a GS g 2 round: asked for or due, and the last round not still open."""
        if not (self.wanted or now - self.maintenance_sent >= self.interval_s):
            return False
        return not (self._open and now - self.maintenance_sent < OPEN_FOR_S)

    def maintenance(self, now: float) -> bytes:
        """GS g 2 for each counter; the caller writes the bytes."""
        self.maintenance_sent = now
        self.wanted = False
        for _, key in MAINTENANCE_QUERIES:
            self._open.append(("maintenance", key))
        return b"".join(protocol.maintenance_counter(n) for n, _ in MAINTENANCE_QUERIES)

    def answer(self, payload: bytes) -> Answer | None:
        """The question this info block answers, or None when none is open."""
        text = payload.decode("ascii", "replace").strip()
        while self._open:
            kind, key = self._open.popleft()
            if kind == "identity" and key in _NEVER_NUMERIC and text.isdigit() and any(
                    k == "maintenance" for k, _ in self._open):
                continue  # unanswered (a clone without it): the answer is for a later question
            return Answer(kind, key, text)
        return None

    def forget(self) -> None:
        self._open.clear()
