"""Receipts: submit, look up, search, cancel, the order check and the electronic copy.

A ``202`` is sent only after the journal committed the receipt; a journal that cannot write
answers 503 ``journal_unavailable``. A resubmission with the same idempotency key answers
``200`` with ``Idempotent-Replayed: true`` and the receipt already accepted.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Header, Query, Response

from receiptd import intake
from receiptd.api.deps import Admin, Caller, Cashier, Pos
from receiptd.api.models import (
    ERRORS,
    ApiSource,
    IsoDatetime,
    OrderOut,
    ReceiptId,
    ReceiptList,
    ReceiptOut,
    Source,
    receipt_out,
)
from receiptd.document import Content, ImageBlock, Submission
from receiptd.intake.backend import Backend
from receiptd.journal import Receipt
from receiptd.render import copy_marker
from receiptd.render.preview import preview_png, preview_text
from receiptd.render.profiles import Profile, get_profile

State = Literal["queued", "printing", "printed", "cancelled", "held", "failed"]
#: Image receipts rendered at once (each may decode up to MAX_TOTAL_IMAGE_PIXELS).
IMAGE_SUBMITS_AT_ONCE = 2


def receipt_profile(backend: Backend, receipt: Receipt) -> Profile:
    """The profile the receipt was rendered for (the printer's own when it still matches)."""
    current = backend.profile(receipt.printer) if receipt.printer in backend.config.printers \
        else None
    if current is not None and current.name == receipt.profile:
        return current
    return get_profile(receipt.profile)


def has_images(content: Content) -> bool:
    return content.document is not None and any(
        isinstance(b, ImageBlock) for b in content.document.blocks)


def accept(backend: Backend, printer: str, submission: Submission, caller: Caller,
           response: Response, source: ApiSource = "api") -> ReceiptOut:
    """Render once (the proof that it can be printed), then journal it; blocking."""
    receipt, created = intake.accept(backend, printer, submission.content(), intake.Origin(
        source=source, submitted_by=caller.name, order_ref=submission.order_ref,
        idempotency_key=submission.idempotency_key))
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return receipt_out(receipt)


def receipts_router(backend: Backend) -> APIRouter:
    router = APIRouter()

    # Receipts with images decode and scale up to MAX_TOTAL_IMAGE_PIXELS each: a few at a
    # time, waiting on the event loop rather than holding worker threads others need.
    images = anyio.CapacityLimiter(IMAGE_SUBMITS_AT_ONCE)

    @router.post("/v1/printers/{printer}/receipts", status_code=202, response_model=ReceiptOut,
                 responses=ERRORS, tags=["receipts"])
    async def submit(
        printer: str, submission: Submission, caller: Pos, response: Response,
        source: Annotated[ApiSource, Header(
            alias="X-Receiptd-Source",
            description="the door the receipt came in by: api (the default) or cups, which "
            "receiptd's CUPS backend sends so the journal shows the receipt came from a CUPS "
            "queue")] = "api",
    ) -> ReceiptOut:
        # Validation above read only the images' headers; rendering decodes them, so it runs
        # in a worker thread, never on the event loop.
        limiter = images if has_images(submission) else None
        return await anyio.to_thread.run_sync(
            functools.partial(accept, backend, printer, submission, caller, response, source),
            limiter=limiter)

    @router.get("/v1/receipts/{receipt_id}", response_model=ReceiptOut, responses=ERRORS,
                tags=["receipts"])
    def get_receipt(receipt_id: ReceiptId, caller: Pos) -> ReceiptOut:
        return receipt_out(backend.journal().receipts.get(receipt_id))

    @router.get("/v1/receipts", response_model=ReceiptList, responses=ERRORS, tags=["receipts"])
    def search(
        caller: Cashier,
        printer: str | None = None,
        order_ref: str | None = None,
        state: State | None = None,
        source: Annotated[Source | None, Query(description="the door it came in by")] = None,
        since: Annotated[IsoDatetime | None, Query(description="ISO-8601, inclusive")] = None,
        until: Annotated[IsoDatetime | None, Query(description="ISO-8601, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before_id: Annotated[int | None, Query(ge=1, description="paging cursor")] = None,
    ) -> ReceiptList:
        rows = backend.journal().search.find(
            printer=printer, order_ref=order_ref, state=state, source=source, since=since,
            until=until, limit=limit, before_id=before_id,
        )
        nxt = rows[-1].id if len(rows) == limit else None
        return ReceiptList(receipts=[receipt_out(r) for r in rows], next_before_id=nxt)

    @router.post("/v1/receipts/{receipt_id}/cancel", response_model=ReceiptOut,
                 responses=ERRORS, tags=["receipts"])
    def cancel(receipt_id: ReceiptId, caller: Admin) -> ReceiptOut:
        receipt = backend.journal().receipts.cancel(receipt_id, by=caller.name)
        backend.bus.publish("receipt", {"receipt_id": receipt.id, "printer": receipt.printer,
                                        "state": receipt.state})
        return receipt_out(receipt)

    # ``:path``: an order reference may contain "/" (sent as %2F, which arrives decoded).
    @router.get("/v1/orders/{order_ref:path}", response_model=OrderOut, responses=ERRORS,
                tags=["receipts"])
    def order(order_ref: str, caller: Pos) -> OrderOut:
        """Did this transaction's receipt print? (An unknown order: ``printed`` false, no
        receipts — receiptd never accepted one.)"""
        receipts = backend.journal().search.receipts_for_order(order_ref)
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
        receipt = backend.journal().receipts.get(receipt_id)
        content = Content.model_validate_json(receipt.content)
        profile = receipt_profile(backend, receipt)
        marker = None if copy is None else copy_marker(copy, receipt.printed_at)
        if format == "png":
            return Response(preview_png(content, profile, marker=marker), media_type="image/png")
        return Response(preview_text(content, profile, marker=marker),
                        media_type="text/plain; charset=utf-8")

    return router
