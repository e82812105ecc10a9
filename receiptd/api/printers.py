"""Printers: health and advice, recovery from a recoverable error, and each printer's history
of state changes (``receiptctl printers``, ``recover``, ``events``; ``doctor`` reads them too).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from receiptd.api.deps import Admin
from receiptd.api.models import ERRORS, IsoDatetime
from receiptd.intake import require_printer
from receiptd.intake.backend import Backend
from receiptd.journal import MAX_EVENTS_PAGE, format_ts


def printers_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["printers"])

    @router.get("/v1/printers", responses=ERRORS)
    def printers(caller: Admin) -> dict[str, list[dict[str, Any]]]:
        return {"printers": [backend.printer_health(n) for n in backend.config.printers]}

    @router.get("/v1/printers/{printer}", responses=ERRORS)
    def printer_detail(printer: str, caller: Admin) -> dict[str, Any]:
        return backend.printer_health(require_printer(backend, printer))

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
