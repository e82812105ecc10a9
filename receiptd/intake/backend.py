"""What the doors receipts come in by (the HTTP API, virtual printer ports) need from the
running daemon, and nothing more.

They hold no state of their own: every request reads and writes through a ``Backend``. The
daemon satisfies it structurally (no inheritance), and so can a small stand-in in a test.
"""

from __future__ import annotations

from typing import Any, Protocol

from receiptd.config import Config
from receiptd.events import EventBus
from receiptd.journal import Journal
from receiptd.printer.states import Snapshot
from receiptd.render.profiles import Profile
from receiptd.spool.handoff import Offer


class Backend(Protocol):
    """The daemon as the doors see it."""

    @property
    def config(self) -> Config:
        """The validated configuration: printers, tokens, limits, retention."""

    @property
    def bus(self) -> EventBus:
        """Where receipt state changes go out to the SSE clients."""

    @property
    def started_at(self) -> float:
        """Unix time the daemon started (``/v1/system`` uptime)."""

    def journal(self) -> Journal:
        """The calling thread's own journal connection (SQLite: one per thread)."""

    def profile(self, printer: str) -> Profile:
        """The profile a configured printer renders with."""

    def journal_check(self) -> dict[str, Any]:
        """The background integrity check started after READY: state, progress, problems."""

    def wake(self, printer: str) -> None:
        """Tell the printer's spooler a print is waiting (no-op when it is not running)."""

    def offer(self, printer: str) -> Offer | None:
        """The open offer of the printer's idle spooler to take the next receipt straight
        from the door (``spool.handoff``), if it makes one now."""

    def recover(self, printer: str) -> None:
        """Ask the printer to recover from a recoverable error (DLE ENQ)."""

    def printer_health(self, printer: str) -> dict[str, Any]:
        """A configured printer's state, queue and advice, as ``/v1/printers`` shows it."""

    def metrics(self) -> bytes:
        """The Prometheus text exposition."""

    def snapshot(self, printer: str) -> Snapshot:
        """A configured printer's live state: flags, connection, identity (a copy)."""
