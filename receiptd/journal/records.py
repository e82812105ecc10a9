"""What the journal hands out: frozen records built from its rows, and its timestamps.

Timestamps are stored as TEXT, ISO-8601 UTC with milliseconds (``2024-05-01T12:34:56.789Z``):
they sort as text, read well in ``sqlite3``, and ``format_ts``/``parse_ts`` convert them.
The records carry aware ``datetime`` objects.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from receiptd.journal import bodies

RECEIPT_STATES = ("queued", "printing", "printed", "cancelled", "held", "failed")
RECEIPT_KINDS = ("document", "text", "raw")
#: The doors a receipt comes in by: the JSON API, a virtual printer port (raw ESC/POS as an
#: app sends it to port 9100), Epson ePOS-Print XML, a CUPS queue (the ``receiptd`` backend),
#: and ``receiptctl doctor``'s test print (not a sale).
RECEIPT_SOURCES = ("api", "virtual_port", "epos", "cups", "doctor")
PRINT_KINDS = ("original", "interrupted_retry", "reprint")
PRINT_STATES = ("queued", "sending", "printed", "interrupted", "cancelled", "held", "failed")
CONFIRMATIONS = ("process_id", "status")

#: Upper bound of ``limit`` in a receipt search.
MAX_PAGE = 500
#: Upper bound of ``limit`` in a printer event listing.
MAX_EVENTS_PAGE = 1000

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"


# -- time -------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime) -> str:
    """Aware datetime → ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds, truncated)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: journal timestamps must be timezone-aware")
    utc = value.astimezone(UTC)
    return f"{utc.strftime(_TS_FORMAT)}.{utc.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Inverse of ``format_ts``; returns an aware UTC datetime."""
    if len(value) == 24 and value[10] == "T" and value[19] == "." and value[23] == "Z":
        parsed = datetime.fromisoformat(value)  # ``format_ts``'s own shape: 100 times faster
        if parsed.tzinfo is UTC:
            return parsed
    return datetime.strptime(value, _TS_FORMAT + ".%fZ").replace(tzinfo=UTC)


def _opt_ts(value: str | None) -> datetime | None:
    return None if value is None else parse_ts(value)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Print:
    """One attempt to put a receipt on paper."""

    id: int
    receipt_id: int
    printer: str
    kind: str  # original | interrupted_retry | reprint
    state: str  # queued | sending | printed | interrupted | cancelled | held | failed
    attempt: int  # 1 for a first attempt, +1 per interrupted retry
    copy_number: int | None  # 1, 2, … for a cashier's copy (kept by its retries)
    retry_of: int | None  # the interrupted print this one repeats
    marker: str | None
    requested_by: str | None
    reason: str | None
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    confirmation: str | None  # process_id | status | None
    #: Attempts made before a person last released this print from ``held``: they no longer
    #: count against the printer's limit of attempts in a row.
    hold_base: int = 0

    @property
    def is_copy(self) -> bool:
        return self.copy_number is not None

    @property
    def needs_marker(self) -> bool:
        """Everything but a first original attempt must carry a visible marker line."""
        return self.kind != "original"


@dataclass(frozen=True)
class Receipt:
    id: int
    printer: str
    state: str  # queued | printing | printed | cancelled | held | failed
    kind: str  # document | text | raw
    content: str  # JSON of the submitted content: {"document": …} / {"text": …} / {"raw": …}
    rendered: bytes  # the original render, sent as-is for the first original attempt
    profile: str
    request_hash: str
    idempotency_key: str | None
    order_ref: str | None
    submitted_by: str | None
    created_at: datetime
    printed_at: datetime | None
    paper_mm: float | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    prints: tuple[Print, ...]
    source: str = "api"  # the door it came in by: RECEIPT_SOURCES
    source_detail: dict[str, Any] | None = None  # what that door recorded (peer, dropped)

    @property
    def copies(self) -> int:
        """Number of cashier's copies that made it onto paper."""
        return len({p.copy_number for p in self.prints
                    if p.copy_number is not None and p.state == "printed"})


@dataclass(frozen=True)
class PrinterEvent:
    id: int
    printer: str
    at: datetime
    state: str
    previous: str | None
    cause: str | None
    detail: dict[str, Any]
    #: The sequence number the printer's state change went out with (None: recorded without
    #: one, e.g. by a receiptd older than the column).
    seq: int | None = None


@dataclass(frozen=True)
class QueueStats:
    depth: int  # queued prints
    oldest_queued_at: datetime | None
    in_doubt: int  # prints in ``sending``
    held: int = 0  # prints held for a person after too many interrupted attempts


@dataclass(frozen=True)
class ApiToken:
    id: int
    key_id: str
    name: str
    role: str
    kdf: str
    salt: bytes
    digest: bytes
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None


# -- rows → records ---------------------------------------------------------------------------


def print_from(row: sqlite3.Row) -> Print:
    return Print(
        id=row["id"],
        receipt_id=row["receipt_id"],
        printer=row["printer"],
        kind=row["kind"],
        state=row["state"],
        attempt=row["attempt"],
        copy_number=row["copy_number"],
        retry_of=row["retry_of"],
        marker=row["marker"],
        requested_by=row["requested_by"],
        reason=row["reason"],
        created_at=parse_ts(row["created_at"]),
        sent_at=_opt_ts(row["sent_at"]),
        finished_at=_opt_ts(row["finished_at"]),
        outcome=row["outcome"],
        confirmation=row["confirmation"],
        hold_base=row["hold_base"],
    )


def _blob(value: object) -> bytes:
    """The journaled bytes as bytes. A damaged row may hold another type: the receipt must
    still load (to be shown, and failed by the spooler), so that becomes bytes too, or none;
    the spooler never sends bytes that are not a rendering (``spool.prepare``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return b""


def receipt_from(row: sqlite3.Row, prints: Sequence[Print]) -> Receipt:
    return Receipt(
        id=row["id"],
        printer=row["printer"],
        state=row["state"],
        kind=row["kind"],
        # no body: damaged, failed by the spooler
        content=bodies.unpack(row["content"] or "", _blob(row["rendered"])),
        rendered=_blob(row["rendered"]),
        profile=row["profile"],
        request_hash=row["request_hash"],
        idempotency_key=row["idempotency_key"],
        order_ref=row["order_ref"],
        submitted_by=row["submitted_by"],
        created_at=parse_ts(row["created_at"]),
        printed_at=_opt_ts(row["printed_at"]),
        paper_mm=row["paper_mm"],
        cancelled_at=_opt_ts(row["cancelled_at"]),
        cancelled_by=row["cancelled_by"],
        prints=tuple(prints),
        source=row["source"],
        source_detail=_detail(row["source_detail"]),
    )


def _detail(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        out = json.loads(value)
    except ValueError:  # damaged: shown as such, the receipt still loads
        return {"unreadable": str(value)[:200]}
    return out if isinstance(out, dict) else {"value": out}


def event_from(row: sqlite3.Row) -> PrinterEvent:
    return PrinterEvent(
        id=row["id"],
        printer=row["printer"],
        at=parse_ts(row["at"]),
        state=row["state"],
        previous=row["previous"],
        cause=row["cause"],
        detail=json.loads(row["detail"]),
        seq=row["seq"],
    )


def token_from(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"], key_id=row["key_id"], name=row["name"], role=row["role"], kdf=row["kdf"],
        salt=bytes(row["salt"]), digest=bytes(row["hash"]), created_at=parse_ts(row["created_at"]),
        created_by=row["created_by"], revoked_at=_opt_ts(row["revoked_at"]),
        revoked_by=row["revoked_by"],
    )
