"""``waiting`` events: which receipts are held up by a printer fault, and what to do about it.

A POS app listening on ``GET /v1/events`` gets one ``waiting`` event per receipt and fault
("receipt 42 waiting: paper out — load paper"), so it can tell the cashier without polling.
The spooler calls ``update`` whenever it has work but the printer cannot print; the set of
announced (receipt, fault) pairs is forgotten once the printer is ready again.
"""

from __future__ import annotations

from receiptd.events import EventBus
from receiptd.journal import Journal
from receiptd.printer import ADVICE, FAULT_STATES, PrinterState


class WaitingNotices:
    def __init__(self, printer: str, bus: EventBus) -> None:
        self.printer = printer
        self._bus = bus
        self._announced: set[tuple[int, str]] = set()

    def update(self, journal: Journal, state: PrinterState) -> int:
        """Announce receipts newly waiting on ``state``; returns how many were announced."""
        if state not in FAULT_STATES:
            self._announced.clear()
            return 0
        advice = ADVICE[state]
        sent = 0
        for receipt_id, receipt_state in journal.search.waiting_receipts(self.printer):
            key = (receipt_id, state.value)
            if key in self._announced:
                continue
            self._announced.add(key)
            order_ref = journal.receipts.get(receipt_id).order_ref  # once per receipt and fault
            self._bus.publish("waiting", {
                "receipt_id": receipt_id, "printer": self.printer, "state": receipt_state,
                "order_ref": order_ref,
                "printer_state": state.value, "category": advice.category,
                "hint": {"en": advice.en, "zh": advice.zh},
            })
            sent += 1
        return sent
