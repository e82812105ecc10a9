"""Receipts: submit, look up, search, cancel, the order check and the electronic copy.

A ``202`` is sent only after the journal committed the receipt; a journal that cannot write
answers 503 ``journal_unavailable``. A resubmission with the same idempotency key answers
``200`` with ``Idempotent-Replayed: true`` and the receipt already accepted.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Literal

import anyio
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from receiptd import intake
from receiptd.api.connections import writes_in_progress
from receiptd.api.deps import Caller
from receiptd.api.models import (
    ApiSource,
    IsoDatetime,
    OrderOut,
    ReceiptId,
    ReceiptList,
    ReceiptOut,
    ReceiptWarning,
    Source,
    receipt_out,
)
from receiptd.api.routing import REQUIRED, Param, Route
from receiptd.document import Content, ImageBlock, Submission
from receiptd.errors import Forbidden, InvalidDocument
from receiptd.intake import require_printer
from receiptd.intake.backend import Backend
from receiptd.intake.writer import JournalWriter
from receiptd.journal import MAX_PAGE, Receipt
from receiptd.journal.records import RECEIPT_SOURCES
from receiptd.printer import ADVICE, FAULT_STATES
from receiptd.render.markers import copy_marker
from receiptd.render.profiles import Profile, get_profile

State = Literal["queued", "printing", "printed", "cancelled", "held", "failed"]
#: Image receipts rendered at once (each may decode up to MAX_TOTAL_IMAGE_PIXELS).
IMAGE_SUBMITS_AT_ONCE = 2
#: Bodies up to this size (without images) are checked and rendered on the event loop: a
#: till receipt takes well under a millisecond; larger ones go to a worker thread.
INLINE_BODY_BYTES = 16 * 1024


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


def printer_state(backend: Backend, printer: str) -> str | None:
    """The printer's state now; None for a printer no longer configured."""
    if printer not in backend.config.printers:
        return None
    return backend.snapshot(printer).state.value


def waiting_warning(backend: Backend, receipt: Receipt) -> ReceiptWarning | None:
    """Plain words for a receipt accepted while its printer cannot print: it is safe and
    waits; here is why, and what to do (the printer's own hint)."""
    if receipt.state != "queued" or receipt.printer not in backend.config.printers:
        return None
    state = backend.snapshot(receipt.printer).state
    if state not in FAULT_STATES:
        return None
    advice = ADVICE[state]
    name = state.value.replace("_", " ")
    return ReceiptWarning(
        en=f"Receipt {receipt.id} is saved but waiting: printer {receipt.printer!r} is "
           f"{name}. {advice.en} It prints by itself once the printer is ready.",
        zh=f"小票 {receipt.id} 已保存，正在等待：打印机 {receipt.printer} 状态为 {name}。"
           f"{advice.zh} 打印机就绪后将自动打印。")


def check_source(source: str) -> None:
    if source not in RECEIPT_SOURCES:  # a door this journal cannot record: refuse it up front
        raise InvalidDocument(f"this receiptd's journal cannot record source {source!r}",
                              code="invalid_request")


def origin_of(submission: Submission, caller: Caller, source: str) -> intake.Origin:
    return intake.Origin(source=source, submitted_by=caller.name,
                         order_ref=submission.order_ref,
                         idempotency_key=submission.idempotency_key)


def content_of(submission: Submission) -> Content:
    """The printable part of a submission that was validated as a whole already (its
    ``Content`` fields and their checks are ``Content``'s own): not validated a second
    time."""
    return Content.model_construct(document=submission.document, text=submission.text,
                                   raw=submission.raw)


def answer(backend: Backend, receipt: Receipt, created: bool) -> Response:
    """The 202 (or the 200 of a replay) with the receipt, serialized once."""
    body = receipt_out(receipt, printer_state(backend, receipt.printer),
                       waiting_warning(backend, receipt)).model_dump_json()
    headers = {"Location": f"/v1/receipts/{receipt.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return Response(body, status_code=202 if created else 200, headers=headers,
                    media_type="application/json")


def accept(backend: Backend, printer: str, submission: Submission, caller: Caller,
           source: str) -> Response:
    """Render once (the proof that it can be printed), then journal it; blocking."""
    receipt, created = intake.accept(backend, printer, content_of(submission),
                                     origin_of(submission, caller, source))
    return answer(backend, receipt, created)


def inline(submission: Submission, body: bytes) -> bool:
    """Whether the event loop may check and render this receipt itself: no images (decoding
    them takes long, so they go to a worker thread, a few at a time), a body of a till
    receipt's size (a long one would hold up every other request meanwhile), and ASCII text
    only: a character outside the printer's code pages may be drawn from a font, and 16 KB of
    Chinese on a printer without a double-byte set takes most of a second to draw."""
    return (len(body) <= INLINE_BODY_BYTES and body.isascii() and b"\\u" not in body
            and not has_images(submission))


def may_read(receipt: Receipt, caller: Caller) -> bool:
    """A cashier (or admin) reads any receipt's electronic copy; a POS app only those it
    submitted itself (its e-receipt), not the shop's other sales."""
    return caller.role in ("cashier", "admin") or receipt.submitted_by == caller.name


def receipts_routes(backend: Backend) -> list[Route]:
    # Receipts with images decode and scale up to MAX_TOTAL_IMAGE_PIXELS each: a few at a
    # time, waiting on the event loop rather than holding worker threads others need.
    images = anyio.CapacityLimiter(IMAGE_SUBMITS_AT_ONCE)
    writer = JournalWriter(backend)

    async def submit(printer: str, body: Submission, caller: Caller, request: Request,
                     source: ApiSource) -> Response:
        check_source(source)
        if not inline(body, await request.body()):  # the body already read
            # Validation above read only the images' headers; rendering decodes them, so it
            # runs in a worker thread, never on the event loop.
            limiter = images if has_images(body) else None
            return await anyio.to_thread.run_sync(
                functools.partial(accept, backend, printer, body, caller, source),
                limiter=limiter)
        # A till receipt: checked and rendered here, committed by the journal writer with
        # whatever else arrived meanwhile (one fsync for them all), or here when no other
        # write is under way; answered once on disk.
        prepared = intake.prepare(backend, printer, content_of(body),
                                  origin_of(body, caller, source))
        receipt, created = await writer.commit(prepared, alone=writes_in_progress() <= 1)
        return answer(backend, receipt, created)

    def get_receipt(receipt_id: int) -> ReceiptOut:
        receipt = backend.journal().receipts.get(receipt_id)
        return receipt_out(receipt, printer_state(backend, receipt.printer))

    def held(printer: str | None) -> ReceiptList:
        """Receipts waiting for a cashier's word, oldest first, each with its
        ``held_reason``: stale after a long fault, or interrupted too often. ``POST
        /v1/receipts/{id}/reprint`` prints one now (a stale one marked DELAYED); leaving it
        is fine: it stays in the journal."""
        journal = backend.journal()
        names = [require_printer(backend, printer)] if printer else list(backend.config.printers)
        ids = sorted({p.receipt_id for n in names
                      for p in journal.search.held_prints(n, limit=MAX_PAGE)})
        states = {n: printer_state(backend, n) for n in names}
        return ReceiptList(receipts=[
            receipt_out(r, states.get(r.printer))
            for r in (journal.receipts.get(i) for i in ids[:MAX_PAGE])])

    def search(printer: str | None, order_ref: str | None, state: State | None,
               source: Source | None, since: datetime | None, until: datetime | None,
               limit: int, before_id: int | None) -> ReceiptList:
        rows = backend.journal().search.find(
            printer=printer, order_ref=order_ref, state=state, source=source, since=since,
            until=until, limit=limit, before_id=before_id,
        )
        nxt = rows[-1].id if len(rows) == limit else None
        if source is None:  # doctor's test prints are no sales: shown only when asked for
            rows = [r for r in rows if r.source != "doctor"]
        states = {n: printer_state(backend, n) for n in {r.printer for r in rows}}
        return ReceiptList(receipts=[receipt_out(r, states[r.printer]) for r in rows],
                           next_before_id=nxt)

    def cancel(receipt_id: int, caller: Caller) -> ReceiptOut:
        receipt = backend.journal().receipts.cancel(receipt_id, by=caller.name)
        backend.bus.publish("receipt", {"receipt_id": receipt.id, "printer": receipt.printer,
                                        "state": receipt.state, "order_ref": receipt.order_ref})
        return receipt_out(receipt, printer_state(backend, receipt.printer))

    def order(order_ref: str) -> OrderOut:
        """Did this transaction's receipt print? (An unknown order: ``printed`` false, no
        receipts — receiptd never accepted one.)"""
        receipts = backend.journal().search.receipts_for_order(order_ref)
        return OrderOut(order_ref=order_ref,
                        printed=any(r.state == "printed" for r in receipts),
                        receipts=[receipt_out(r) for r in receipts])

    def preview(receipt_id: int, caller: Caller, format: Literal["txt", "png"],
                copy: int | None) -> Response:
        """The electronic copy of a receipt, rendered from the journaled document. A ``pos``
        token reads only the receipts it submitted (``403 not_your_receipt`` otherwise)."""
        receipt = backend.journal().receipts.get(receipt_id)
        if not may_read(receipt, caller):
            raise Forbidden(f"receipt {receipt_id} was submitted by another till: a pos token "
                            "reads only its own receipts' copies", code="not_your_receipt")
        content = Content.model_validate_json(receipt.content)
        profile = receipt_profile(backend, receipt)
        from receiptd.render.preview import preview_png, preview_text  # PIL: on first use

        marker = None if copy is None else copy_marker(copy, receipt.printed_at)
        if format == "png":
            return Response(preview_png(content, profile, marker=marker), media_type="image/png")
        return Response(preview_text(content, profile, marker=marker),
                        media_type="text/plain; charset=utf-8")

    receipt_id = Param("receipt_id", ReceiptId, REQUIRED, "path")
    printer = Param("printer", str, REQUIRED, "path")
    since = Param("since", IsoDatetime | None, None, description="ISO-8601, inclusive")
    until = Param("until", IsoDatetime | None, None, description="ISO-8601, exclusive")
    tags = ("receipts",)
    return [
        Route("POST", "/v1/printers/{printer}/receipts", submit, role="pos", body=Submission,
              answer=ReceiptOut, status=202, tags=tags, params=(printer, Param(
                  "source", ApiSource, "api", "header", alias="X-Receiptd-Source",
                  description="the door the receipt came in by: api (the default) or cups, "
                  "which receiptd's CUPS backend sends so the journal shows the receipt came "
                  "from a CUPS queue; or doctor, receiptctl doctor's test print (not a "
                  "sale)"))),
        Route("GET", "/v1/receipts/{receipt_id}", get_receipt, role="pos", answer=ReceiptOut,
              tags=tags, params=(receipt_id,)),
        Route("GET", "/v1/held", held, role="cashier", answer=ReceiptList, tags=tags,
              params=(Param("printer", str | None, None, description="one printer's only"),)),
        Route("GET", "/v1/receipts", search, role="cashier", answer=ReceiptList, tags=tags,
              params=(
                  Param("printer", str | None, None), Param("order_ref", str | None, None),
                  Param("state", State | None, None),
                  Param("source", Source | None, None, description="the door it came in by"),
                  since, until, Param("limit", Annotated[int, Field(ge=1, le=500)], 50),
                  Param("before_id", Annotated[int | None, Field(ge=1)], None,
                        description="paging cursor"))),
        Route("POST", "/v1/receipts/{receipt_id}/cancel", cancel, role="admin",
              answer=ReceiptOut, tags=tags, params=(receipt_id,)),
        # ``:path``: an order reference may contain "/" (sent as %2F, which arrives decoded).
        Route("GET", "/v1/orders/{order_ref:path}", order, role="pos", answer=OrderOut,
              tags=tags, params=(Param("order_ref", str, REQUIRED, "path"),)),
        Route("GET", "/v1/receipts/{receipt_id}/preview", preview, role="pos", tags=tags,
              answer_content={"text/plain": {}, "image/png": {}}, params=(
                  Param("receipt_id", int, REQUIRED, "path"),
                  Param("format", Literal["txt", "png"], "txt", description="txt or png"),
                  Param("copy", Annotated[int | None, Field(ge=1, le=999)], None,
                        description="show copy N's COPY marker"))),
    ]
