"""Printer states: the one state a printer is in, the flags that decide it, and its changes.

Stable string values (they are in the journal, the API and the metrics). ``READY_STATES`` print;
``FAULT_STATES`` hold the queue; ``unknown`` is before the first answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

from receiptd import protocol


class PrinterState(enum.StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    CUTTER_ERROR = "cutter_error"
    MECHANICAL_ERROR = "mechanical_error"
    AUTO_RECOVERABLE_ERROR = "auto_recoverable_error"
    UNRECOVERABLE_ERROR = "unrecoverable_error"
    OFFLINE = "offline"


READY_STATES = frozenset({PrinterState.ONLINE, PrinterState.PAPER_NEAR_END})
FAULT_STATES = frozenset(PrinterState) - READY_STATES - {PrinterState.UNKNOWN}
# Errors the printer only leaves after DLE ENQ: an admin action, never automatic.
RECOVERABLE_STATES = frozenset({PrinterState.CUTTER_ERROR, PrinterState.MECHANICAL_ERROR})


def state_from_flags(flags: protocol.StatusFlags) -> tuple[PrinterState, str]:
    """The one state a set of status flags means, most severe first, and its cause."""
    table: tuple[tuple[bool, PrinterState, str], ...] = (
        (flags.unrecoverable_error, PrinterState.UNRECOVERABLE_ERROR, "unrecoverable error"),
        (flags.cutter_error, PrinterState.CUTTER_ERROR, "autocutter error"),
        (flags.recoverable_error, PrinterState.MECHANICAL_ERROR, "recoverable mechanical error"),
        (flags.auto_recoverable_error, PrinterState.AUTO_RECOVERABLE_ERROR, "head overheat"),
        (flags.cover_open, PrinterState.COVER_OPEN, "cover open"),
        (flags.paper_end, PrinterState.PAPER_OUT, "paper end"),
        (flags.offline, PrinterState.OFFLINE, "printer reports offline"),
        (flags.paper_near_end, PrinterState.PAPER_NEAR_END, "paper near end"),
    )
    for active, state, cause in table:
        if active:
            return state, cause
    return PrinterState.ONLINE, "status ok"


def active_flags(flags: protocol.StatusFlags) -> list[str]:
    return [f.name for f in fields(flags) if getattr(flags, f.name)]


@dataclass(frozen=True)
class Transition:
    """One change of one printer's state. ``seq`` numbers the printer's changes in the order
    the session made them; the journal row, the SSE event, the metric and STATUS all follow it."""

    printer: str
    seq: int
    state: PrinterState
    previous: PrinterState
    cause: str
    at: float
    flags: tuple[str, ...]


@dataclass
class Snapshot:
    """What the health API shows; a copy, safe to read from any thread."""

    name: str
    url: str
    kind: str
    state: PrinterState
    since: float
    cause: str
    flags: list[str]
    connected: bool
    confirmation: str  # "process_id" | "status" | "unknown"
    identity: dict[str, str]
    last_error: str | None
    counters: dict[str, int] = field(default_factory=dict)
    # GS g 2 maintenance counters (``MAINTENANCE_QUERIES`` keys) and when they last answered
    maintenance: dict[str, int] = field(default_factory=dict)
    maintenance_at: float | None = None


