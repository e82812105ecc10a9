"""The one door out for a printer's state changes.

A printer's state may change on any thread that notices something (the session thread reading a
status reply, a spooler or API thread whose write found the link gone). The session numbers each
change and queues it under its lock; this reporter alone, on its own thread, takes them from that
queue and hands each one on in that order: first the journal's printer-event row, then the health
history, the SSE event, the metric and systemd's STATUS line. Everyone who looks therefore sees
the same order, and a slow or failing journal never stalls the printer's own thread.

A change the journal cannot take (disk full, read-only) is still published at once, and kept to
be journaled, still in sequence order, as soon as the journal takes writes again.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import structlog

from receiptd.errors import JournalUnavailable
from receiptd.events import EventBus
from receiptd.journal import Journal
from receiptd.monitor.health import HealthState
from receiptd.monitor.history import iso
from receiptd.monitor.metrics import Metrics
from receiptd.printer import ADVICE, Transition

log = structlog.get_logger("receiptd.reporter")

RETRY_S = 1.0  # how often a backlog of unjournaled changes is retried while all is quiet
#: Put in the changes queue by ``stop()`` to end the idle wait at once; not a change.
_WAKE = object()
IDLE_WAIT_S = 2.0  # with nothing to report: only the heartbeat and the stop request need it


class StateReporter:
    """Drains one printer's ``PrinterSession.changes``; runs ``run()`` in its own thread."""

    def __init__(
        self,
        printer: str,
        changes: queue.SimpleQueue[Transition],
        journal_factory: Callable[[], Journal],
        *,
        bus: EventBus,
        health: HealthState,
        metrics: Metrics,
        notify_status: Callable[[], None],
        on_beat: Callable[[], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        idle_wait_s: float = IDLE_WAIT_S,
    ) -> None:
        self.printer = printer
        self._idle_wait_s = idle_wait_s
        self._on_error = on_error or (lambda error: None)
        self._changes = changes
        self._journal_factory = journal_factory
        self._bus = bus
        self._health = health
        self._metrics = metrics
        self._notify_status = notify_status
        self._on_beat = on_beat or (lambda: None)
        self._stop = threading.Event()
        self._backlog: deque[Transition] = deque()  # published, not yet in the journal
        self._log = log.bind(printer=printer)

    def stop(self) -> None:
        """Report what is queued, then return from ``run``."""
        self._stop.set()
        self._changes.put(cast(Transition, _WAKE))  # now, not after the idle wait

    def run(self) -> None:
        journal = self._journal_factory()
        while True:
            self._on_beat()
            stopping = self._stop.is_set()  # then only what is already queued
            wait = 0.0 if stopping else RETRY_S if self._backlog else self._idle_wait_s
            try:
                change = self._changes.get(timeout=wait)
            except queue.Empty:
                if stopping:
                    break
                self._guarded(self._journal_backlog, journal)
                continue
            if change is not _WAKE:
                self._guarded(self._report, journal, change)
        self._journal_backlog(journal)
        if self._backlog:
            self._log.error("printer_events_not_journaled", count=len(self._backlog),
                            seqs=[c.seq for c in self._backlog])

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """One change (or a retry of the backlog) must never end the reporting: an error is
        logged, counted in the health view, and the next change goes on."""
        try:
            step(*args)
        except Exception as exc:
            self._log.exception("report_failed")
            self._on_error(f"{type(exc).__name__}: {exc}")

    def _report(self, journal: Journal, change: Transition) -> None:
        self._backlog.append(change)
        self._journal_backlog(journal)
        advice = ADVICE[change.state]
        self._bus.publish("printer", {
            "printer": change.printer, "seq": change.seq, "state": change.state.value,
            "previous": change.previous.value, "cause": change.cause,
            "category": advice.category, "hint": {"en": advice.en, "zh": advice.zh},
            "at": iso(change.at),
        })
        self._metrics.on_transition(change)
        try:
            self._notify_status()
        except Exception:  # STATUS is informative; it must not stop the reporting
            self._log.exception("status_notify_failed")

    def _journal_backlog(self, journal: Journal) -> None:
        """Write the unjournaled changes, oldest first; stop at the first the journal refuses."""
        while self._backlog:
            change = self._backlog[0]
            try:
                event = journal.events.record(
                    printer=change.printer, seq=change.seq, state=change.state.value,
                    previous=change.previous.value, cause=change.cause,
                    detail=self._detail(journal, change),
                )
            except JournalUnavailable as exc:
                self._log.error("printer_event_not_journaled", seq=change.seq, error=str(exc),
                                backlog=len(self._backlog))
                return
            self._backlog.popleft()
            self._health.on_event(journal, event)

    @staticmethod
    def _detail(journal: Journal, change: Transition) -> dict[str, Any]:
        # The paper counter at each change lets health tell how much paper a roll gave.
        paper_mm = journal.search.counters(change.printer).get("paper_mm", 0.0)
        return {"flags": list(change.flags), "category": ADVICE[change.state].category,
                "paper_mm": paper_mm}

