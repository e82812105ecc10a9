"""Reprints: a marked copy of a receipt, of a printer's last receipt, or of an order's.

A reprint never changes the original: it is a new print row saying who asked, when and why,
and the slip carries a COPY marker.
"""

from __future__ import annotations

from fastapi import APIRouter

from receiptd.api.deps import Caller, Cashier
from receiptd.api.models import (
    ERRORS,
    ReceiptId,
    ReprintOut,
    ReprintRequest,
    print_out,
    receipt_out,
)
from receiptd.errors import NotFound
from receiptd.intake import require_printer
from receiptd.intake.backend import Backend


def reprint_receipt(backend: Backend, receipt_id: int, caller: Caller,
                    reason: str | None) -> ReprintOut:
    """Queue a marked copy: a new print row saying who asked, when and why."""
    journal = backend.journal()
    job = journal.receipts.add_reprint(receipt_id, requested_by=f"{caller.name} ({caller.role})",
                                       reason=reason)
    receipt = journal.receipts.get(receipt_id)
    backend.wake(receipt.printer)
    backend.bus.publish("receipt", {"receipt_id": receipt.id, "printer": receipt.printer,
                                    "state": receipt.state, "order_ref": receipt.order_ref,
                                    "print_id": job.id,
                                    "print_kind": job.kind, "print_state": job.state})
    return ReprintOut(receipt=receipt_out(receipt), print=print_out(job))


def reprint_router(backend: Backend) -> APIRouter:
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
        last = backend.journal().search.last_receipt(require_printer(backend, printer))
        if last is None:
            raise NotFound(f"printer {printer!r} has no receipt yet", code="no_receipt")
        return reprint_receipt(backend, last.id, caller, body.reason if body else None)

    # ``:path``, as for GET /v1/orders/{order_ref}: an order reference may contain "/".
    @router.post("/v1/orders/{order_ref:path}/reprint", status_code=202, response_model=ReprintOut,
                 responses=ERRORS, tags=["reprint"])
    def reprint_order(order_ref: str, caller: Cashier,
                      body: ReprintRequest | None = None) -> ReprintOut:
        """A marked copy of the newest (not cancelled) receipt of this order."""
        found = backend.journal().search.find(order_ref=order_ref, limit=50)
        if not found:
            raise NotFound(f"no receipt for order {order_ref!r}", code="unknown_order")
        live = [r for r in found if r.state != "cancelled"] or found
        return reprint_receipt(backend, live[0].id, caller, body.reason if body else None)

    return router
