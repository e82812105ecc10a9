"""One printer: its states and what they mean to a person, and the status session over its link."""

from receiptd.printer.advice import ADVICE, Advice, describe
from receiptd.printer.queries import MAINTENANCE_QUERIES
from receiptd.printer.session import PrinterSession, SessionSettings
from receiptd.printer.states import (
    FAULT_STATES,
    READY_STATES,
    RECOVERABLE_STATES,
    PrinterState,
    Snapshot,
    Transition,
    active_flags,
    state_from_flags,
)

__all__ = [
    "ADVICE",
    "FAULT_STATES",
    "MAINTENANCE_QUERIES",
    "READY_STATES",
    "RECOVERABLE_STATES",
    "Advice",
    "PrinterSession",
    "PrinterState",
    "SessionSettings",
    "Snapshot",
    "Transition",
    "active_flags",
    "describe",
    "state_from_flags",
]
