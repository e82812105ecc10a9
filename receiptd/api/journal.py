"""``/v1/journal``: the admin's journal maintenance (stats, integrity check, online backup,
purge). Receipts themselves are in ``receiptd.api.receipts`` and ``receiptd.api.reprint``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from receiptd.api.deps import Admin
from receiptd.api.models import ERRORS, CheckOut, PurgeOut
from receiptd.intake.backend import Backend
from receiptd.journal import format_ts, utcnow
from receiptd.journal.retention import Retention


def journal_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["journal"])

    @router.get("/v1/journal/stats", responses=ERRORS)
    def journal_stats(caller: Admin) -> dict[str, Any]:
        return backend.journal().admin.stats()

    @router.post("/v1/journal/check", response_model=CheckOut, responses=ERRORS)
    def journal_check(caller: Admin) -> CheckOut:
        """Full ``PRAGMA integrity_check`` (reads the whole file: seconds on a big journal)."""
        lines = backend.journal().admin.check()
        ok = lines == ["ok"]
        return CheckOut(ok=ok, problems=[] if ok else lines)

    @router.get("/v1/journal/backup", responses={
        **ERRORS, 200: {"content": {"application/vnd.sqlite3": {}}}},
        response_class=StreamingResponse)
    def journal_backup(caller: Admin) -> StreamingResponse:
        """A consistent online copy (SQLite backup API into a temporary file next to the
        journal, unlinked before it is streamed from the open handle, so no copy outlives the
        request, even when the client goes away). Writers are not blocked while it is made."""
        journal = backend.journal()
        fd, name = tempfile.mkstemp(prefix=".backup-", suffix=".db",
                                    dir=Path(journal.path).parent)
        os.close(fd)
        try:
            journal.admin.backup(name)
        except BaseException:
            _unlink(name)
            raise
        try:
            size = os.path.getsize(name)
            handle = open(name, "rb")  # noqa: SIM115 - closed by the stream below
        finally:
            _unlink(name)

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(1 << 16):
                    yield block

        stamp = format_ts(utcnow()).replace(":", "").replace("-", "")[:15]
        return StreamingResponse(chunks(), media_type="application/vnd.sqlite3", headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="receiptd-journal-{stamp}.db"',
        })

    @router.post("/v1/journal/purge", response_model=PurgeOut, responses=ERRORS)
    def journal_purge(caller: Admin) -> PurgeOut:
        """One retention pass now (``[retention]`` days / max_bytes), in small batches;
        submissions go on meanwhile. Never removes a receipt that is not printed."""
        journal = backend.journal()
        purged = Retention(backend.journal, backend.config.retention).run_once(journal)
        return PurgeOut(purged=purged, stats=journal.admin.stats())

    return router


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)
