"""Accepting one receipt: validate, render once, journal, announce, wake the spooler.

Every door calls ``accept``; none journals a receipt any other way, so the guarantees (checked
before accepted, journaled before printed) hold for all of them alike. Blocking: call it from
a worker thread, never on the event loop (rendering may decode images).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from receiptd.document import Content
from receiptd.document.raw import check_raw
from receiptd.errors import InvalidDocument, NotFound
from receiptd.intake.backend import Backend
from receiptd.journal import Receipt
from receiptd.journal.receipts import NewReceipt
from receiptd.spool.handoff import Offer


@dataclass(frozen=True)
class Origin:
    """What the door knows about a receipt besides its content."""

    source: str = "api"  # journal.records.RECEIPT_SOURCES
    submitted_by: str | None = None  # the token's name, or the door's own name
    order_ref: str | None = None
    idempotency_key: str | None = None
    detail: Mapping[str, object] | None = None  # journaled as source_detail (JSON)
    #: The client was already told it failed: journal it failed, never print it by itself.
    failed: str | None = None


def require_printer(backend: Backend, printer: str) -> str:
    """``printer`` if it is configured; ``404 unknown_printer`` otherwise."""
    if printer not in backend.config.printers:
        raise NotFound(f"no printer named {printer!r}", code="unknown_printer")
    return printer


def check_dialect_takes_raw(backend: Backend, printer: str) -> None:
    """Raw content is ESC/POS: ``422 dialect_mismatch`` for a printer that speaks another
    language (``dialect = "star"``), which would print those bytes as garbage. The virtual
    port (raw ESC/POS too) is refused for such a printer in the configuration."""
    dialect = backend.profile(printer).dialect  # star, or star_raster for raster-only models
    if dialect != "escpos":
        raise InvalidDocument(
            f"printer {printer!r} speaks {dialect}, not ESC/POS: raw ESC/POS cannot be "
            "printed there; send a document instead", code="dialect_mismatch")


@dataclass(frozen=True)
class Prepared:
    """A receipt checked and rendered, ready to be journaled: what ``accept`` does before its
    commit (CPU only, no I/O)."""

    printer: str
    content: Content
    origin: Origin
    new: NewReceipt


def prepare(backend: Backend, printer: str, content: Content, origin: Origin) -> Prepared:
    """Check ``content`` for ``printer`` and render it once: ``InvalidDocument`` (and the
    other 4xx errors) before anything is journaled."""
    require_printer(backend, printer)
    profile = backend.profile(printer)
    if content.kind == "raw":
        check_dialect_takes_raw(backend, printer)
        check_raw(content.raw_bytes())
    # Rendering (PIL, the code generators, python-escpos) is imported by the first receipt.
    from receiptd.render import render_measured
    from receiptd.render.paper import check_paper_limit

    # One layout proves it printable before it is accepted, and measures its paper.
    rendered, paper_mm = render_measured(content, profile)
    check_paper_limit(paper_mm, backend.config.printers[printer].max_paper_mm, printer)
    content_json = content.model_dump_json(exclude_none=True)
    request_hash = hashlib.sha256(
        json.dumps([printer, content_json, origin.order_ref]).encode()
    ).hexdigest()
    return Prepared(printer, content, origin, NewReceipt(
        printer=printer, kind=content.kind, content_json=content_json, rendered=rendered,
        profile=profile.name, request_hash=request_hash,
        idempotency_key=origin.idempotency_key, order_ref=origin.order_ref,
        submitted_by=origin.submitted_by, paper_mm=paper_mm, source=origin.source,
        source_detail=origin.detail, failed=origin.failed,
    ))


def announce(backend: Backend, prepared: Prepared, receipt: Receipt, *,
             wake: bool = True) -> None:
    """Tell the event stream a receipt was journaled, then (``wake``) its printer's spooler.
    Call it only for a receipt just created (not for a replay). With ``wake`` False the
    caller wakes the spooler itself (``wanted_wake``), after its answer went out."""
    # Publish before waking the spooler, so "queued" comes before its "sending".
    backend.bus.publish("receipt", {
        "receipt_id": receipt.id, "printer": prepared.printer, "state": receipt.state,
        "print_state": receipt.prints[0].state, "order_ref": receipt.order_ref,
        "source": receipt.source,
    })
    if wake and wanted_wake(prepared):
        backend.wake(prepared.printer)


def wanted_wake(prepared: Prepared) -> bool:
    """Whether the receipt waits for its spooler (a receipt journaled ``failed`` does not)."""
    return prepared.origin.failed is None


def claim(backend: Backend, prepared: Prepared) -> tuple[Prepared, Offer | None]:
    """Just before the commit: ``prepared`` to be journaled straight into ``sending`` if its
    printer's idle spooler offers to take it (``spool.handoff``), with the offer claimed.
    Every claim must end in ``hand_over``, whatever becomes of the commit."""
    if not wanted_wake(prepared):
        return prepared, None
    offer = backend.offer(prepared.printer)
    if offer is None or not offer.claim():
        return prepared, None
    return dataclasses.replace(prepared, new=dataclasses.replace(prepared.new, start=True)), \
        offer


def hand_over(backend: Backend, prepared: Prepared, offer: Offer | None,
              outcome: tuple[Receipt, bool] | Exception) -> None:
    """At once after the commit of a claimed receipt, or its failure: a receipt journaled
    ``sending`` is announced (before the spooler's events about it can be) and goes to the
    spooler; otherwise the spooler gets None (the receipt is queued, a replay, or not
    journaled). Should the spooler have stopped waiting, the print goes back to the queue:
    nothing of it was sent."""
    if offer is None:
        return
    receipt = None
    if not isinstance(outcome, Exception):
        journaled, created = outcome
        if created and handed(journaled):
            receipt = journaled
            announce(backend, prepared, receipt, wake=False)
    if not offer.deliver(receipt) and receipt is not None:
        backend.journal().receipts.unstart_print(receipt.prints[0].id,
                                                 reason="its printer stopped waiting for it")
    backend.wake(prepared.printer)


def handed(receipt: Receipt) -> bool:
    """Whether a receipt just created was journaled ``sending`` for its spooler: announced
    and handed over by ``hand_over`` already."""
    return receipt.prints[0].state == "sending"


def accept(backend: Backend, printer: str, content: Content,
           origin: Origin) -> tuple[Receipt, bool]:
    """Journal ``content`` for ``printer``; returns (receipt, created). ``created`` is False
    for a replay of an idempotency key already used with the same request."""
    prepared, offer = claim(backend, prepare(backend, printer, content, origin))
    outcome: tuple[Receipt, bool] | Exception
    try:
        outcome = backend.journal().receipts.submit(**vars(prepared.new))
    except Exception as exc:
        hand_over(backend, prepared, offer, exc)
        raise
    hand_over(backend, prepared, offer, outcome)
    receipt, created = outcome
    if created and not handed(receipt):
        announce(backend, prepared, receipt)
    return receipt, created
