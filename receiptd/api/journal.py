"""``/v1/journal``: the admin's journal maintenance (stats, integrity check, online backup,
purge). Receipts themselves are in ``receiptd.api.receipts`` and ``receiptd.api.reprint``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.responses import StreamingResponse

from receiptd.api.models import CheckOut, PurgeOut
from receiptd.api.routing import Route
from receiptd.intake.backend import Backend
from receiptd.journal import format_ts, utcnow
from receiptd.journal.retention import Retention


def journal_routes(backend: Backend) -> list[Route]:
    def journal_stats() -> dict[str, Any]:
        return backend.journal().admin.stats()

    def journal_check() -> CheckOut:
        """Full ``PRAGMA integrity_check`` (reads the whole file: seconds on a big journal)."""
        lines = backend.journal().admin.check()
        ok = lines == ["ok"]
        return CheckOut(ok=ok, problems=[] if ok else lines)

    def journal_backup() -> StreamingResponse:
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

    def journal_purge() -> PurgeOut:
        """One retention pass now (``[retention]`` days / max_bytes), in small batches;
        submissions go on meanwhile. Never removes a receipt that is not printed."""
        journal = backend.journal()
        purged = Retention(backend.journal, backend.config.retention).run_once(journal)
        return PurgeOut(purged=purged, stats=journal.admin.stats())

    tags = ("journal",)
    return [
        Route("GET", "/v1/journal/stats", journal_stats, role="admin", answer=dict[str, Any],
              tags=tags),
        Route("POST", "/v1/journal/check", journal_check, role="admin", answer=CheckOut,
              tags=tags),
        Route("GET", "/v1/journal/backup", journal_backup, role="admin", tags=tags,
              answer_content={"application/vnd.sqlite3": {}}),
        Route("POST", "/v1/journal/purge", journal_purge, role="admin", answer=PurgeOut,
              tags=tags),
    ]


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)
