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

from pydantic import Field

from receiptd.api.deps import Caller
from receiptd.api.models import IsoDatetime
from receiptd.api.routing import REQUIRED, Param, Route
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


def printers_routes(backend: Backend) -> list[Route]:
    def printers(caller: Caller) -> dict[str, list[dict[str, Any]]]:
        """Every printer, as the caller's role sees it (see the module docstring)."""
        return {"printers": [printer_view(backend, n, caller) for n in backend.config.printers]}

    def printer_detail(printer: str, caller: Caller) -> dict[str, Any]:
        return printer_view(backend, require_printer(backend, printer), caller)

    def recover(printer: str) -> dict[str, Any]:
        backend.recover(require_printer(backend, printer))
        return backend.printer_health(printer)

    def printer_events(printer: str, since: datetime | None, until: datetime | None,
                       limit: int, before_id: int | None) -> dict[str, Any]:
        require_printer(backend, printer)
        rows = backend.journal().events.list(
            printer, since=_aware(since), until=_aware(until), limit=limit, before_id=before_id)
        return {
            "events": [{"id": e.id, "printer": e.printer, "at": format_ts(e.at),
                        "state": e.state, "previous": e.previous, "cause": e.cause,
                        "detail": e.detail} for e in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None,
        }

    name = Param("printer", str, REQUIRED, "path")
    tags = ("printers",)
    return [
        Route("GET", "/v1/printers", printers, role="pos",
              answer=dict[str, list[dict[str, Any]]], tags=tags),
        Route("GET", "/v1/printers/{printer}", printer_detail, role="pos",
              answer=dict[str, Any], tags=tags, params=(name,)),
        Route("POST", "/v1/printers/{printer}/recover", recover, role="admin",
              answer=dict[str, Any], tags=tags, params=(name,)),
        Route("GET", "/v1/printers/{printer}/events", printer_events, role="admin",
              answer=dict[str, Any], tags=tags, errors=False, params=(
                  name,
                  Param("since", IsoDatetime | None, None, description="ISO-8601, inclusive"),
                  Param("until", IsoDatetime | None, None, description="ISO-8601, exclusive"),
                  Param("limit", Annotated[int, Field(ge=1, le=MAX_EVENTS_PAGE)], 100),
                  Param("before_id", Annotated[int | None, Field(ge=1)], None,
                        description="paging cursor"))),
    ]


def _aware(value: datetime | None) -> datetime | None:
    """Query times without a zone are UTC, like every time the API returns."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
