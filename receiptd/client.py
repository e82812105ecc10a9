"""A typed Python client of receiptd's HTTP API, for POS applications.

``receiptctl`` uses it too, so what it does is what the command line does. It imports nothing
of the daemon: a POS app can use it with only ``httpx`` installed next to it.

    from receiptd.client import Client, ApiError

    with Client("http://127.0.0.1:8631", token="till-1-secret") as rd:
        receipt = rd.submit("front", text="Flat white  3.20\\n", order_ref="T-1001",
                            idempotency_key="till1-1001")
        if receipt["warning"]:                     # accepted, but the printer is in a fault
            show_cashier(receipt["warning"]["en"])
        rd.wait_printed(receipt["id"], timeout=30)

Every error answer becomes an ``ApiError`` with the API's stable ``code`` (``not_printed``,
``too_large``, ``journal_unavailable``, …; ``unreachable`` when the daemon did not answer at
all), its HTTP ``status`` and the ``message`` meant for people. Submitting again with the same
``idempotency_key`` after a network error is safe: the daemon answers with the receipt it
already has and prints nothing twice.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal, NotRequired, TypedDict, cast
from urllib.parse import quote

import httpx

__all__ = [
    "ApiError",
    "Client",
    "Event",
    "Order",
    "Print",
    "PrinterView",
    "Receipt",
    "ReceiptList",
    "ReceiptWarning",
    "Reprint",
    "error_of",
    "unreachable",
]

DEFAULT_URL = "http://127.0.0.1:8631"
ReceiptState = Literal["queued", "printing", "printed", "cancelled", "held", "failed"]
PrintState = Literal["queued", "sending", "printed", "interrupted", "cancelled", "held",
                     "failed"]


class ApiError(Exception):
    """An error answer (or none at all): branch on ``code``, show ``message`` to people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message


class Print(TypedDict):
    id: int
    kind: Literal["original", "interrupted_retry", "reprint"]
    state: PrintState
    attempt: int
    copy_number: int | None
    requested_by: str | None
    reason: str | None
    created_at: str | None
    sent_at: str | None
    finished_at: str | None
    outcome: str | None
    confirmation: Literal["process_id", "status"] | None


class ReceiptWarning(TypedDict):
    code: str
    en: str
    zh: str


class Receipt(TypedDict):
    id: int
    printer: str
    state: ReceiptState
    kind: Literal["document", "text", "raw"]
    source: str
    order_ref: str | None
    idempotency_key: str | None
    submitted_by: str | None
    created_at: str | None
    printed_at: str | None
    copies: int
    prints: list[Print]
    printer_state: str | None
    held_reason: str | None
    warning: ReceiptWarning | None


class ReceiptList(TypedDict):
    receipts: list[Receipt]
    next_before_id: int | None


class Order(TypedDict):
    order_ref: str
    printed: bool
    receipts: list[Receipt]


class Reprint(TypedDict):
    receipt: Receipt
    print: Print


class PrinterView(TypedDict):
    """A printer as the token's role sees it: ``pos`` gets the first five keys, a cashier
    also the hint and the held prints, an admin the whole health view (more keys than
    listed)."""

    name: str
    state: str
    ready: NotRequired[bool]
    printing_held: NotRequired[bool]
    queue: dict[str, Any]  # depth and held (counts); for an admin also in_doubt, oldest
    since: NotRequired[str]
    category: NotRequired[str]
    hint: NotRequired[dict[str, str]]
    problems: NotRequired[list[dict[str, Any]]]
    held: NotRequired[list[dict[str, Any]]]  # the prints waiting for a person


class Event(TypedDict):
    """One server-sent event: ``receipt``, ``printer``, ``waiting`` or ``held``."""

    id: int | None
    type: str
    data: dict[str, Any]


def error_of(response: httpx.Response) -> ApiError:
    """The ``ApiError`` for an answer of 400 or more (its body must have been read)."""
    try:
        err = response.json()["error"]
        return ApiError(response.status_code, str(err["code"]), str(err["message"]))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text)


def unreachable(exc: httpx.HTTPError) -> ApiError:
    return ApiError(0, "unreachable", f"cannot reach receiptd: {exc}")


class Client:
    """One daemon, one token. ``unix_socket`` talks over the daemon's socket instead of TCP.
    Not thread-safe beyond what ``httpx.Client`` is; one per thread is cheap."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *,
                 unix_socket: str | None = None, timeout: float = 10.0) -> None:
        transport = httpx.HTTPTransport(uds=unix_socket) if unix_socket else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        base = "http://receiptd" if unix_socket else url.rstrip("/")
        #: The underlying ``httpx.Client`` (base URL and token set), for what is not here.
        self.http = httpx.Client(base_url=base, headers=headers, transport=transport,
                                 timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ any route

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The decoded JSON answer, or the raw bytes of any other content type."""
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise unreachable(exc) from exc
        if response.status_code >= 400:
            raise error_of(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    # ------------------------------------------------------------------ the POS app

    def submit(self, printer: str, *, document: dict[str, Any] | None = None,
               text: str | None = None, raw: bytes | None = None,
               order_ref: str | None = None, idempotency_key: str | None = None) -> Receipt:
        """Journal a receipt for ``printer`` (exactly one of ``document``, ``text``, ``raw``).
        Returned once it is on disk; ``warning`` says when it waits on a printer fault."""
        body: dict[str, Any] = {}
        if document is not None:
            body["document"] = document
        if text is not None:
            body["text"] = text
        if raw is not None:
            body["raw"] = base64.b64encode(raw).decode()
        if order_ref is not None:
            body["order_ref"] = order_ref
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return cast(Receipt, self.call("POST", f"/v1/printers/{_seg(printer)}/receipts",
                                       json=body))

    def receipt(self, receipt_id: int) -> Receipt:
        return cast(Receipt, self.call("GET", f"/v1/receipts/{int(receipt_id)}"))

    def order(self, order_ref: str) -> Order:
        """Did this order's receipt print? ``printed`` and its receipts, oldest first."""
        return cast(Order, self.call("GET", f"/v1/orders/{_seg(order_ref)}"))

    def preview(self, receipt_id: int, *, format: Literal["txt", "png"] = "txt",
                copy: int | None = None) -> bytes:
        """The electronic copy (a ``pos`` token: only of receipts it submitted)."""
        params: dict[str, Any] = {"format": format}
        if copy is not None:
            params["copy"] = copy
        data = self.call("GET", f"/v1/receipts/{int(receipt_id)}/preview", params=params)
        return data if isinstance(data, bytes) else json.dumps(data).encode()

    def printers(self) -> list[PrinterView]:
        return cast(list[PrinterView], self.call("GET", "/v1/printers")["printers"])

    def printer(self, name: str) -> PrinterView:
        return cast(PrinterView, self.call("GET", f"/v1/printers/{_seg(name)}"))

    def wait_printed(self, receipt_id: int, timeout: float = 30.0,
                     interval: float = 0.25) -> Receipt:
        """Poll until the receipt printed (or ended ``cancelled``/``failed``/``held``, or
        ``timeout`` passed): returns the receipt as last seen; check its ``state``."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.receipt(receipt_id)
            if r["state"] in ("printed", "cancelled", "failed", "held") \
                    or time.monotonic() >= deadline:
                return r
            time.sleep(interval)

    def events(self, last_event_id: int | None = None) -> Iterator[Event]:
        """Server-sent events, as they come (blocks; ends when the daemon closes the
        stream). Pass the last ``id`` seen to resume after a reconnect."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        try:
            with self.http.stream("GET", "/v1/events", headers=headers, timeout=None) as r:
                if r.status_code >= 400:
                    r.read()
                    raise error_of(r)
                yield from _sse(r.iter_lines())
        except httpx.HTTPError as exc:
            raise unreachable(exc) from exc

    # ------------------------------------------------------------------ the cashier

    def receipts(self, **filters: Any) -> ReceiptList:
        """Search, newest first: ``printer``, ``order_ref``, ``state``, ``source``,
        ``since``, ``until`` (ISO-8601), ``limit``, ``before_id``."""
        params = {k: v for k, v in filters.items() if v is not None}
        return cast(ReceiptList, self.call("GET", "/v1/receipts", params=params))

    def held(self, printer: str | None = None) -> ReceiptList:
        """Receipts waiting for a cashier's word, with ``held_reason``."""
        params = {"printer": printer} if printer else {}
        return cast(ReceiptList, self.call("GET", "/v1/held", params=params))

    def reprint(self, receipt_id: int, reason: str | None = None) -> Reprint:
        """A marked copy; for a held receipt, its print released (``print now``)."""
        return cast(Reprint, self.call("POST", f"/v1/receipts/{int(receipt_id)}/reprint",
                                       json=_reason(reason)))

    def reprint_last(self, printer: str, reason: str | None = None) -> Reprint:
        return cast(Reprint, self.call("POST", f"/v1/printers/{_seg(printer)}/reprint-last",
                                       json=_reason(reason)))

    def reprint_order(self, order_ref: str, reason: str | None = None) -> Reprint:
        return cast(Reprint, self.call("POST", f"/v1/orders/{_seg(order_ref)}/reprint",
                                       json=_reason(reason)))

    # ------------------------------------------------------------------ the admin

    def cancel(self, receipt_id: int) -> Receipt:
        return cast(Receipt, self.call("POST", f"/v1/receipts/{int(receipt_id)}/cancel"))

    def recover(self, printer: str) -> PrinterView:
        return cast(PrinterView, self.call("POST", f"/v1/printers/{_seg(printer)}/recover"))

    def metrics(self) -> str:
        """Prometheus text (a ``metrics`` or ``admin`` token)."""
        data = self.call("GET", "/metrics")
        return data.decode() if isinstance(data, bytes) else str(data)


def _seg(value: str) -> str:
    """One path segment: an order reference may hold '/', which must arrive as one."""
    return quote(value, safe="")


def _reason(reason: str | None) -> dict[str, str] | None:
    return {"reason": reason} if reason else None


def _sse(lines: Iterator[str]) -> Iterator[Event]:
    """``text/event-stream`` lines → events (comments and ``retry:`` skipped)."""
    event_id: int | None = None
    kind, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield Event(id=event_id, type=kind, data=json.loads("\n".join(data)))
            event_id, kind, data = None, "message", []
        elif line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
