"""The daemon itself: liveness (``/healthz``), Prometheus metrics, and the host's vital signs
(``/v1/system``: journal, free disk, clock), which ``receiptctl doctor`` checks.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from receiptd import __version__
from receiptd.api.deps import Admin
from receiptd.intake.backend import Backend
from receiptd.monitor.history import iso

#: Free space under which the journal's disk is a warning, and a failure (doctor and health).
DISK_WARN_BYTES = 200 * 1024 * 1024
DISK_FAIL_BYTES = 20 * 1024 * 1024


def health_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["health"])

    # On the event loop, not in a worker thread: liveness must answer even while every
    # worker is busy (a flood of wrong secrets, many image receipts at once).
    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @router.get("/metrics", response_class=Response)
    def metrics(caller: Admin) -> Response:
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
                "check": journal.admin.check() if check else None,
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
