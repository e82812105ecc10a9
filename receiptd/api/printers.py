"""Printers: health and advice, recovery from a recoverable error, and each printer's history
of state changes (``receiptctl printers``, ``recover``, ``events``; ``doctor`` reads them too).

Each role sees what it needs of a printer, read-only: the POS app whether its receipts print
now (``state``, ``ready``, ``printing_held``, how many wait); the cashier also why not and
what to do (category, hint in en/zh, the receipts held for a decision); the admin everything
(link, identity, counters, paper, history).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from receiptd.api.deps import Admin, Caller, Pos
from receiptd.api.models import ERRORS, IsoDatetime
from receiptd.intake import require_printer
from receiptd.intake.backend import Backend
from receiptd.journal import MAX_EVENTS_PAGE, format_ts
from receiptd.printer import READY_STATES

#: What a cashier's view keeps of the admin's health view.
CASHIER_FIELDS = ("name", "state", "since", "category", "hint", "problems", "queue", "held")


def printer_view(backend: Backend, printer: str, caller: Caller) -> dict[str, Any]:
    """``printer`` as ``caller``'s role sees it."""
    if caller.role == "admin":
        return backend.printer_health(printer)
    state = backend.snapshot(printer).state
    ready = state in READY_STATES
    if caller.role == "cashier":
        health = backend.printer_health(printer)
        return {**{k: health[k] for k in CASHIER_FIELDS if k in health}, "ready": ready,
                "printing_held": not ready}
    stats = backend.journal().search.queue_stats(printer)
    return {"name": printer, "state": state.value, "ready": ready, "printing_held": not ready,
            "queue": {"depth": stats.depth, "held": stats.held}}


def printers_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["printers"])

    @router.get("/v1/printers", responses=ERRORS)
    def printers(caller: Pos) -> dict[str, list[dict[str, Any]]]:
        """Every printer, as the caller's role sees it (see the module docstring)."""
        return {"printers": [printer_view(backend, n, caller) for n in backend.config.printers]}

    @router.get("/v1/printers/{printer}", responses=ERRORS)
    def printer_detail(printer: str, caller: Pos) -> dict[str, Any]:
        return printer_view(backend, require_printer(backend, printer), caller)

    @router.post("/v1/printers/{printer}/recover", responses=ERRORS)
    def recover(printer: str, caller: Admin) -> dict[str, Any]:
        backend.recover(require_printer(backend, printer))
        return backend.printer_health(printer)

    @router.get("/v1/printers/{printer}/events")
    def printer_events(
        printer: str,
        caller: Admin,
        since: Annotated[IsoDatetime | None, Query(description="ISO-8601, inclusive")] = None,
        until: Annotated[IsoDatetime | None, Query(description="ISO-8601, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
        before_id: Annotated[int | None, Query(ge=1, description="paging cursor")] = None,
    ) -> dict[str, Any]:
        require_printer(backend, printer)
        rows = backend.journal().events.list(
            printer, since=_aware(since), until=_aware(until), limit=limit, before_id=before_id)
        return {
            "events": [{"id": e.id, "printer": e.printer, "at": format_ts(e.at),
                        "state": e.state, "previous": e.previous, "cause": e.cause,
                        "detail": e.detail} for e in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None,
        }

    return router


def _aware(value: datetime | None) -> datetime | None:
    """Query times without a zone are UTC, like every time the API returns."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
