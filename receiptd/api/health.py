"""The daemon itself: liveness (``/healthz``), Prometheus metrics, and the host's vital signs
(``/v1/system``: journal, free disk, clock), which ``receiptctl doctor`` checks.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from starlette.responses import Response

from receiptd import __version__
from receiptd.api.deps import METRICS_ROLES, Caller
from receiptd.api.routing import Param, Route
from receiptd.intake.backend import Backend
from receiptd.monitor.history import iso

__all__ = ["DISK_FAIL_BYTES", "DISK_WARN_BYTES", "METRICS_ROLES", "health_routes",
           "journal_bytes"]

#: Free space under which the journal's disk is a warning, and a failure (doctor and health).
DISK_WARN_BYTES = 200 * 1024 * 1024
DISK_FAIL_BYTES = 20 * 1024 * 1024


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


def health_routes(backend: Backend) -> list[Route]:
    # On the event loop, not in a worker thread: liveness must answer even while every
    # worker is busy (a flood of wrong secrets, many image receipts at once).
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    def metrics(caller: Caller) -> Response:
        return Response(backend.metrics(), media_type="text/plain; version=0.0.4")

    def system(check: bool) -> dict[str, Any]:
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

    tags = ("health",)
    return [
        Route("GET", "/healthz", healthz, answer=dict[str, str], tags=tags, errors=False),
        Route("GET", "/metrics", metrics, role="metrics", tags=tags, errors=False),
        Route("GET", "/v1/system", system, role="admin", answer=dict[str, Any], tags=tags,
              errors=False, params=(Param("check", bool, False, description="run a full "
                                          "journal integrity check"),)),
    ]
