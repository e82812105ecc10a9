"""Stale receipts: a print that waited through a printer fault for longer than the printer's
``hold_after_s`` is not printed when the fault clears. The customer it was for has most likely
left; a slip coming out an hour late, unasked, confuses the next customer and the cashier. It
is held instead (never lost: it stays in the journal), the POS app is told (a ``held`` event),
and a cashier decides: print it now (``reprint``), or leave it.

Printed on a person's word, it carries a ``DELAYED`` marker with the time it was taken and the
time it came out, so nobody reads it as a new order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from receiptd.events import EventBus
from receiptd.journal import Journal, Print, format_ts, utcnow
from receiptd.printer import PrinterState

log = structlog.get_logger("receiptd.spooler")


def delayed_marker(taken_at: datetime, printed_at: datetime) -> str:
    """``*** DELAYED ***`` and when the receipt was taken and printed (local wall clock, plain
    ASCII like every marker: not every code page has a dash or an arrow)."""
    return (f"*** DELAYED ***\ntaken {_local(taken_at)}\nprinted {_local(printed_at)}")


def _local(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


class StaleHold:
    """Watches one printer's faults from the spooler and, when one clears, holds the prints
    that waited through it for longer than ``hold_after_s``."""

    def __init__(self, printer: str, hold_after_s: float, bus: EventBus) -> None:
        self.printer = printer
        self.hold_after = timedelta(seconds=hold_after_s)
        self._bus = bus
        self._fault_since: datetime | None = None
        self._fault: PrinterState | None = None

    @property
    def enabled(self) -> bool:
        return self.hold_after > timedelta(0)

    def may_send(self, journal: Journal, ready: bool, state: PrinterState,
                 publish: Callable[[Journal, int, Print], None]) -> bool:
        """The spooler's question before each send: False while the printer is not ready,
        and on the first take after a fault that held stale prints (each is ``publish``ed;
        the next take goes on with what is left)."""
        now = utcnow()
        if not ready:
            self.not_ready(state, now)
            return False
        held = self.ready(journal, now)
        for job in held:
            publish(journal, job.receipt_id, job)
        return not held

    def not_ready(self, state: PrinterState, now: datetime) -> None:
        """The spooler had a print to send and the printer could not take it."""
        if self._fault_since is None:
            self._fault_since = now
        if state not in (PrinterState.UNKNOWN, PrinterState.ONLINE):
            self._fault = state

    def ready(self, journal: Journal, now: datetime) -> list[Print]:
        """The printer is ready again: hold what waited through the fault too long. Only the
        time a print waited *in the fault* counts: a fault shorter than ``hold_after_s``
        holds nothing, however long the queue."""
        since, fault = self._fault_since, self._fault
        self._fault_since = self._fault = None
        if not self.enabled or since is None or now - since <= self.hold_after:
            return []
        what = fault.value if fault is not None else "printer not ready"
        waited = round((now - since).total_seconds())
        held = journal.receipts.hold_stale(
            self.printer, queued_before=now - self.hold_after,
            reason=f"stale: waited {waited} s through {what} (hold_after_s "
                   f"{self.hold_after.total_seconds():g}); print it now or leave it")
        for job in held:
            log.warning("print_held_stale", printer=self.printer, receipt=job.receipt_id,
                        print_id=job.id, reason=job.reason)
            self._announce(journal, job, what)
        return held

    def _announce(self, journal: Journal, job: Print, fault: str) -> None:
        receipt = journal.receipts.get(job.receipt_id)
        self._bus.publish("held", {
            "receipt_id": job.receipt_id, "printer": self.printer,
            "order_ref": receipt.order_ref, "print_id": job.id, "print_kind": job.kind,
            "reason": "stale", "detail": job.reason, "fault": fault,
            "taken_at": format_ts(receipt.created_at),
            "hint": {"en": "Receipt not printed: it waited too long while the printer was "
                           "not ready. Print it now, or leave it.",
                     "zh": "小票未打印：打印机故障期间等待过久。请选择立即打印或不打印。"},
        })
