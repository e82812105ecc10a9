"""HTTP routes around the journal: reprint by order, the duplicate check, the electronic copy
(preview) and the admin's journal maintenance (stats, integrity check, online backup, purge).

Mounted by ``api.create_app``; like the rest of the API it holds no state of its own.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from receiptd.api.app import (
    ERRORS,
    Admin,
    Backend,
    Caller,
    Cashier,
    Pos,
    ReceiptId,
    ReceiptOut,
    ReprintOut,
    ReprintRequest,
    print_out,
    receipt_out,
    require_printer,
)
from receiptd.document import Content
from receiptd.errors import NotFound
from receiptd.journal import Receipt, format_ts, utcnow
from receiptd.journal.retention import Retention
from receiptd.render import copy_marker
from receiptd.render.preview import preview_png, preview_text
from receiptd.render.profiles import Profile, get_profile


class OrderOut(BaseModel):
    order_ref: str
    printed: bool = Field(description="true when a receipt of this order came out on paper")
    receipts: list[ReceiptOut] = Field(description="oldest first, with every print and copies")


class PurgeOut(BaseModel):
    purged: int
    stats: dict[str, Any]


class CheckOut(BaseModel):
    ok: bool
    problems: list[str]


def reprint_receipt(backend: Backend, receipt_id: int, caller: Caller,
                    reason: str | None) -> ReprintOut:
    """Queue a marked copy: a new print row saying who asked, when and why."""
    journal = backend.journal()
    job = journal.add_reprint(receipt_id, requested_by=f"{caller.name} ({caller.role})",
                              reason=reason)
    receipt = journal.get_receipt(receipt_id)
    backend.wake(receipt.printer)
    backend.bus.publish("receipt", {"receipt_id": receipt.id, "printer": receipt.printer,
                                    "state": receipt.state, "print_id": job.id,
                                    "print_kind": "reprint", "print_state": "queued"})
    return ReprintOut(receipt=receipt_out(receipt), print=print_out(job))


def receipt_profile(backend: Backend, receipt: Receipt) -> Profile:
    """The profile the receipt was rendered for (the printer's own when it still matches)."""
    current = backend.profile(receipt.printer) if receipt.printer in backend.config.printers \
        else None
    if current is not None and current.name == receipt.profile:
        return current
    return get_profile(receipt.profile)


def journal_router(backend: Backend) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/receipts/{receipt_id}/reprint", status_code=202,
                 response_model=ReprintOut, responses=ERRORS, tags=["reprint"])
    def reprint(receipt_id: ReceiptId, caller: Cashier,
                body: ReprintRequest | None = None) -> ReprintOut:
        return reprint_receipt(backend, receipt_id, caller, body.reason if body else None)

    @router.post("/v1/printers/{printer}/reprint-last", status_code=202,
                 response_model=ReprintOut, responses=ERRORS, tags=["reprint"])
    def reprint_last(printer: str, caller: Cashier,
                     body: ReprintRequest | None = None) -> ReprintOut:
        last = backend.journal().last_receipt(require_printer(backend, printer))
        if last is None:
            raise NotFound(f"printer {printer!r} has no receipt yet", code="no_receipt")
        return reprint_receipt(backend, last.id, caller, body.reason if body else None)

    @router.post("/v1/orders/{order_ref}/reprint", status_code=202, response_model=ReprintOut,
                 responses=ERRORS, tags=["reprint"])
    def reprint_order(order_ref: str, caller: Cashier,
                      body: ReprintRequest | None = None) -> ReprintOut:
        """A marked copy of the newest (not cancelled) receipt of this order."""
        found = backend.journal().find_receipts(order_ref=order_ref, limit=50)
        if not found:
            raise NotFound(f"no receipt for order {order_ref!r}", code="unknown_order")
        live = [r for r in found if r.state != "cancelled"] or found
        return reprint_receipt(backend, live[0].id, caller, body.reason if body else None)

    @router.get("/v1/orders/{order_ref}", response_model=OrderOut, responses=ERRORS,
                tags=["receipts"])
    def order(order_ref: str, caller: Pos) -> OrderOut:
        """Did this transaction's receipt print? (An unknown order: ``printed`` false, no
        receipts — receiptd never accepted one.)"""
        receipts = backend.journal().receipts_for_order(order_ref)
        return OrderOut(order_ref=order_ref,
                        printed=any(r.state == "printed" for r in receipts),
                        receipts=[receipt_out(r) for r in receipts])

    @router.get("/v1/receipts/{receipt_id}/preview", responses={
        **ERRORS, 200: {"content": {"text/plain": {}, "image/png": {}}}}, tags=["receipts"],
        response_class=Response)
    def preview(
        receipt_id: int,
        caller: Cashier,
        format: Annotated[Literal["txt", "png"], Query(description="txt or png")] = "txt",
        copy: Annotated[int | None, Query(ge=1, le=999,
                                          description="show copy N's COPY marker")] = None,
    ) -> Response:
        """The electronic copy of a receipt, rendered from the journaled document."""
        receipt = backend.journal().get_receipt(receipt_id)
        content = Content.model_validate_json(receipt.content)
        profile = receipt_profile(backend, receipt)
        marker = None if copy is None else copy_marker(copy, receipt.printed_at)
        if format == "png":
            return Response(preview_png(content, profile, marker=marker), media_type="image/png")
        return Response(preview_text(content, profile, marker=marker),
                        media_type="text/plain; charset=utf-8")

    @router.get("/v1/journal/stats", responses=ERRORS, tags=["journal"])
    def journal_stats(caller: Admin) -> dict[str, Any]:
        return backend.journal().stats()

    @router.post("/v1/journal/check", response_model=CheckOut, responses=ERRORS,
                 tags=["journal"])
    def journal_check(caller: Admin) -> CheckOut:
        """Full ``PRAGMA integrity_check`` (reads the whole file: seconds on a big journal)."""
        lines = backend.journal().check()
        ok = lines == ["ok"]
        return CheckOut(ok=ok, problems=[] if ok else lines)

    @router.get("/v1/journal/backup", responses={
        **ERRORS, 200: {"content": {"application/vnd.sqlite3": {}}}}, tags=["journal"],
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
            journal.backup(name)
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

    @router.post("/v1/journal/purge", response_model=PurgeOut, responses=ERRORS,
                 tags=["journal"])
    def journal_purge(caller: Admin) -> PurgeOut:
        """One retention pass now (``[retention]`` days / max_bytes), in small batches;
        submissions go on meanwhile. Never removes a receipt that is not printed."""
        journal = backend.journal()
        purged = Retention(backend.journal, backend.config.retention).run_once(journal)
        return PurgeOut(purged=purged, stats=journal.stats())

    return router


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)
