"""The daemon itself: liveness (``/healthz``), Prometheus metrics, and the host's vital signs
(``/v1/system``: journal, free disk, clock), which ``receiptctl doctor`` checks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from receiptd import __version__
from receiptd.api.deps import (
    THROTTLED_ANSWER_DELAY_S,
    Admin,
    Caller,
    authenticator,
    client_address,
)
from receiptd.api.throttle import AuthBusy, TooManyFailures
from receiptd.errors import Forbidden
from receiptd.intake.backend import Backend
from receiptd.monitor.history import iso

#: Free space under which the journal's disk is a warning, and a failure (doctor and health).
DISK_WARN_BYTES = 200 * 1024 * 1024
DISK_FAIL_BYTES = 20 * 1024 * 1024


#: Who may scrape ``/metrics``: a Prometheus server's own ``metrics`` token (which opens
#: nothing else), or an admin.
METRICS_ROLES = frozenset({"metrics", "admin"})


async def metrics_caller(request: Request) -> Caller:
    """The ``metrics`` role's dependency. It stands outside ``pos < cashier < admin``: a
    scraper's token must not read receipts, and a cashier's must not read the shop's
    counters, so it is checked by set, not by rank."""
    auth = authenticator(request)
    client = client_address(request)
    try:
        found = auth.fast(request.headers.get("authorization", ""), client)
        if isinstance(found, str):  # a stored token not in the cache: journal + scrypt
            found = await auth.verify(found, client)
    except (TooManyFailures, AuthBusy):
        await asyncio.sleep(THROTTLED_ANSWER_DELAY_S)  # as deps.require: a flood waits
        raise
    if found.role not in METRICS_ROLES:
        raise Forbidden(f"this needs the metrics or admin role; token {found.name!r} is "
                        f"{found.role}")
    return Caller(name=found.name, role=found.role)


metrics_caller.required_role = "metrics"  # type: ignore[attr-defined]  # annotate_roles()
Metrics = Annotated[Caller, Depends(metrics_caller)]


def journal_bytes(path: Path) -> dict[str, int]:
    """The journal's size on disk: the file and its write-ahead log. Between checkpoints the
    WAL holds the newest pages (a megabyte or more while the file shows kilobytes), so the
    size that matters for the disk is the sum."""
    sizes = {}
    for key, part in (("file_bytes", path), ("wal_bytes", Path(f"{path}-wal"))):
        try:
            sizes[key] = part.stat().st_size
        except OSError:
            sizes[key] = 0
    return {**sizes, "total_bytes": sizes["file_bytes"] + sizes["wal_bytes"]}


def health_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["health"])

    # On the event loop, not in a worker thread: liveness must answer even while every
    # worker is busy (a flood of wrong secrets, many image receipts at once).
    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @router.get("/metrics", response_class=Response)
    def metrics(caller: Metrics) -> Response:
        return Response(backend.metrics(), media_type="text/plain; version=0.0.4")

    @router.get("/v1/system")
    def system(
        caller: Admin,
        check: Annotated[bool, Query(description="run a full journal integrity check")] = False,
    ) -> dict[str, Any]:
        journal = backend.journal()
        path = Path(backend.config.daemon.journal)
        usage = shutil.disk_usage(path.parent)
        now = time.time()
        started = backend.started_at
        return {
            "version": __version__,
            "pid": os.getpid(),
            "time": iso(now),
            "unix_time": now,
            "timezone": time.strftime("%Z"),
            "uptime_s": round(now - started, 3) if started else None,
            "journal": {
                "path": str(path),
                **journal.admin.stats(),
                **journal_bytes(path),
                "check": journal.admin.check() if check else None,
                "background_check": backend.journal_check(),
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

    return router
