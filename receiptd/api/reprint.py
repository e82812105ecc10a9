"""Reprints: a marked copy of a receipt, of a printer's last receipt, or of an order's.

A reprint never changes the original: it is a new print row saying who asked, when and why,
and the slip carries a COPY marker.
"""

from __future__ import annotations

from collections.abc import Callable

from receiptd.api.deps import Caller
from receiptd.api.models import (
    ReceiptId,
    ReprintOut,
    ReprintRequest,
    print_out,
    receipt_out,
)
from receiptd.api.routing import REQUIRED, Param, Route
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


def reprint_routes(backend: Backend) -> list[Route]:
    def reprint(receipt_id: int, caller: Caller, body: ReprintRequest | None) -> ReprintOut:
        return reprint_receipt(backend, receipt_id, caller, body.reason if body else None)

    def reprint_last(printer: str, caller: Caller, body: ReprintRequest | None) -> ReprintOut:
        last = backend.journal().search.last_receipt(require_printer(backend, printer))
        if last is None:
            raise NotFound(f"printer {printer!r} has no receipt yet", code="no_receipt")
        return reprint_receipt(backend, last.id, caller, body.reason if body else None)

    def reprint_order(order_ref: str, caller: Caller,
                      body: ReprintRequest | None) -> ReprintOut:
        """A marked copy of the newest (not cancelled) receipt of this order."""
        found = backend.journal().search.find(order_ref=order_ref, limit=50)
        if not found:
            raise NotFound(f"no receipt for order {order_ref!r}", code="unknown_order")
        live = [r for r in found if r.state != "cancelled"] or found
        return reprint_receipt(backend, live[0].id, caller, body.reason if body else None)

    def route(path: str, handler: Callable[..., ReprintOut], param: Param) -> Route:
        return Route("POST", path, handler, role="cashier", params=(param,),
                     body=ReprintRequest, body_required=False, answer=ReprintOut, status=202,
                     tags=("reprint",))

    return [
        route("/v1/receipts/{receipt_id}/reprint", reprint,
              Param("receipt_id", ReceiptId, REQUIRED, "path")),
        route("/v1/printers/{printer}/reprint-last", reprint_last,
              Param("printer", str, REQUIRED, "path")),
        # ``:path``, as for GET /v1/orders/{order_ref}: an order reference may contain "/".
        route("/v1/orders/{order_ref:path}/reprint", reprint_order,
              Param("order_ref", str, REQUIRED, "path")),
    ]
