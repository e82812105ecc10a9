"""The API's request and response bodies, its error body, and typed path and query values.

These are the OpenAPI document's schemas: renaming a model or a field changes the published
contract. Every error is ``{"error": {"code": ..., "message": ...}}`` (``ErrorOut``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from receiptd.api.auth import TOKEN_NAME
from receiptd.journal import ApiToken, Print, Receipt, format_ts

# ---------------------------------------------------------------------- errors


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


#: The error answers every route that needs a role can give (``responses=`` in OpenAPI).
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}

# ---------------------------------------------------------------------- typed values


def _iso_only(value: Any) -> Any:
    """Query times are ISO-8601 text, as documented; pydantic alone would also take a bare
    number as Unix seconds (``until=0.0``), which no client means."""
    if isinstance(value, str):
        try:
            float(value)  # "0.0", "-4.6e-184", "1e9": numbers in every spelling
        except ValueError:
            return value
        raise ValueError("expected an ISO-8601 date-time, e.g. 2026-05-01T12:00:00Z")
    return value


#: A date-time query parameter (ISO-8601 only).
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only)]

#: SQLite integers are 64-bit: a larger id cannot exist (and would not bind).
MAX_ID = 2**63 - 1
ReceiptId = Annotated[int, Field(ge=1, le=MAX_ID)]

# ---------------------------------------------------------------------- receipts and prints

#: The door a receipt came in by (journal.records.RECEIPT_SOURCES); ``doctor``: the test
#: print of ``receiptctl doctor``, which is not a sale.
Source = Literal["api", "virtual_port", "epos", "cups", "doctor"]
#: What a client of the JSON API may say it is (header ``X-Receiptd-Source``): the other doors
#: are the daemon's own and journal their receipts themselves.
ApiSource = Literal["api", "cups", "doctor"]


class PrintOut(BaseModel):
    id: int
    kind: Literal["original", "interrupted_retry", "reprint"]
    state: Literal["queued", "sending", "printed", "interrupted", "cancelled", "held", "failed"]
    attempt: int
    copy_number: int | None
    requested_by: str | None
    reason: str | None
    created_at: str | None
    sent_at: str | None
    finished_at: str | None
    outcome: str | None
    confirmation: str | None


class ReceiptWarning(BaseModel):
    """Why an accepted receipt will not print at once, in plain words for the cashier."""

    code: Literal["printer_not_ready"] = "printer_not_ready"
    en: str
    zh: str


class ReceiptOut(BaseModel):
    id: int
    printer: str
    state: Literal["queued", "printing", "printed", "cancelled", "held", "failed"]
    kind: Literal["document", "text", "raw"]
    source: Source = Field(description="the door it came in by: the JSON API, a virtual "
                           "printer port, ePOS-Print, a CUPS queue, or receiptctl doctor's "
                           "test print")
    source_detail: dict[str, Any] | None = Field(
        None, description="what its door recorded: for a virtual port the peer, the commands "
        "dropped and the questions answered, a resend's original; for ePOS-Print the "
        "elements left out")
    order_ref: str | None
    idempotency_key: str | None
    submitted_by: str | None
    created_at: str | None
    printed_at: str | None
    copies: int
    prints: list[PrintOut]
    printer_state: str | None = Field(
        None, description="the printer's state now (unknown, online, paper_out, ...); null "
        "for a printer no longer configured")
    held_reason: str | None = Field(
        None, description="why a print of it waits for a person's word (reprint or recover): "
        "interrupted too often, or stale after a long fault")
    warning: ReceiptWarning | None = Field(
        None, description="on a receipt accepted while its printer is in a fault: it waits, "
        "and this says why and what to do")


class ReceiptList(BaseModel):
    receipts: list[ReceiptOut]
    next_before_id: int | None = Field(None, description="pass as before_id for the next page")


class OrderOut(BaseModel):
    order_ref: str
    printed: bool = Field(description="true when a receipt of this order came out on paper")
    receipts: list[ReceiptOut] = Field(description="oldest first, with every print and copies")


class ReprintRequest(BaseModel):
    reason: str | None = Field(None, max_length=500)


class ReprintOut(BaseModel):
    receipt: ReceiptOut
    print: PrintOut


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def print_out(p: Print) -> PrintOut:
    return PrintOut(
        id=p.id, kind=p.kind, state=p.state, attempt=p.attempt, copy_number=p.copy_number,
        requested_by=p.requested_by, reason=p.reason, created_at=_time(p.created_at),
        sent_at=_time(p.sent_at), finished_at=_time(p.finished_at), outcome=p.outcome,
        confirmation=p.confirmation,
    )


def held_reason(r: Receipt) -> str | None:
    """The reason of the newest print of ``r`` that waits for a person, if any."""
    held = [p for p in r.prints if p.state == "held"]
    return (held[-1].reason or "held") if held else None


def receipt_out(r: Receipt, printer_state: str | None = None,
                warning: ReceiptWarning | None = None) -> ReceiptOut:
    return ReceiptOut(
        id=r.id, printer=r.printer, state=r.state, kind=r.kind, source=r.source,
        source_detail=r.source_detail, order_ref=r.order_ref,
        idempotency_key=r.idempotency_key, submitted_by=r.submitted_by,
        created_at=_time(r.created_at), printed_at=_time(r.printed_at), copies=r.copies,
        prints=[print_out(p) for p in r.prints], printer_state=printer_state,
        held_reason=held_reason(r), warning=warning,
    )


# ---------------------------------------------------------------------- journal maintenance


class PurgeOut(BaseModel):
    purged: int
    stats: dict[str, Any]


class CheckOut(BaseModel):
    ok: bool
    problems: list[str]


# ---------------------------------------------------------------------- API tokens

Role = Literal["metrics", "pos", "cashier", "admin"]


class TokenCreate(BaseModel):
    name: str = Field(pattern=TOKEN_NAME.pattern, max_length=64,
                      description="recorded on every receipt and reprint it makes",
                      examples=["till-1"])
    role: Role = Field(description="pos < cashier < admin; metrics reads /metrics only")


class TokenOut(BaseModel):
    name: str
    role: Role
    source: Literal["config", "journal"] = Field(
        description="config: from the config file or --token (manage it there)")
    key_id: str | None = None
    created_at: str | None = None
    created_by: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None


class TokenCreated(TokenOut):
    secret: str = Field(description="the bearer token; shown only this once")


class TokenList(BaseModel):
    tokens: list[TokenOut]


def token_out(t: ApiToken) -> TokenOut:
    """A stored token as the API shows it (never its hash)."""
    return TokenOut(name=t.name, role=t.role, source="journal",
                    key_id=t.key_id, created_at=format_ts(t.created_at),
                    created_by=t.created_by,
                    revoked_at=format_ts(t.revoked_at) if t.revoked_at else None,
                    revoked_by=t.revoked_by)
