"""Admin routes for troubleshooting: printer event history and the host's vital signs.

``receiptctl doctor`` is built on these and on ``GET /v1/printers/{printer}``; like every
client it uses the API only.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query

from receiptd import __version__
from receiptd.api.app import IsoDatetime
from receiptd.errors import NotFound
from receiptd.journal import MAX_EVENTS_PAGE, format_ts
from receiptd.monitor.health import iso

#: Free space under which the journal's disk is a warning, and a failure (doctor and health).
DISK_WARN_BYTES = 200 * 1024 * 1024
DISK_FAIL_BYTES = 20 * 1024 * 1024


def add_admin_routes(app: FastAPI, backend: Any, admin: Any) -> None:
    """``admin`` is the dependency that admits the admin role."""

    @app.get("/v1/printers/{printer}/events", tags=["printers"],
             dependencies=[Depends(admin)])
    def printer_events(
        printer: str,
        since: Annotated[IsoDatetime | None, Query(description="ISO-8601, inclusive")] = None,
        until: Annotated[IsoDatetime | None, Query(description="ISO-8601, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
        before_id: Annotated[int | None, Query(ge=1, description="paging cursor")] = None,
    ) -> dict[str, Any]:
        if printer not in backend.config.printers:
            raise NotFound(f"no printer named {printer!r}", code="unknown_printer")
        rows = backend.journal().printer_events(
            printer, since=_aware(since), until=_aware(until), limit=limit, before_id=before_id)
        return {
            "events": [{"id": e.id, "printer": e.printer, "at": format_ts(e.at),
                        "state": e.state, "previous": e.previous, "cause": e.cause,
                        "detail": e.detail} for e in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None,
        }

    @app.get("/v1/system", tags=["health"], dependencies=[Depends(admin)])
    def system(
        check: Annotated[bool, Query(description="run a full journal integrity check")] = False,
    ) -> dict[str, Any]:
        journal = backend.journal()
        path = Path(backend.config.daemon.journal)
        usage = shutil.disk_usage(path.parent)
        now = time.time()
        started = getattr(backend, "started_at", None)
        return {
            "version": __version__,
            "pid": os.getpid(),
            "time": iso(now),
            "unix_time": now,
            "timezone": time.strftime("%Z"),
            "uptime_s": round(now - started, 3) if started else None,
            "journal": {
                "path": str(path),
                **journal.stats(),
                "check": journal.check() if check else None,
            },
            "disk": {
                "path": str(path.parent),
                "free_bytes": usage.free,
                "total_bytes": usage.total,
                "warn_below_bytes": DISK_WARN_BYTES,
                "fail_below_bytes": DISK_FAIL_BYTES,
            },
            "printers": list(backend.config.printers),
        }


def _aware(value: datetime | None) -> datetime | None:
    """Query times without a zone are UTC, like every time the API returns."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
