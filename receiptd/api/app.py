"""HTTP API (FastAPI): routes, roles, request limits, error mapping. No state of its own.

Every error is ``{"error": {"code": ..., "message": ...}}`` with a stable code. A ``202`` is
sent only after the journal committed the receipt; a journal that cannot write answers 503
``journal_unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiptd import __version__
from receiptd.api.auth import ROLE_RANK, Authenticator
from receiptd.config import Config
from receiptd.document import Submission
from receiptd.document.raw import check_raw
from receiptd.errors import Forbidden, NotFound, ReceiptdError, TooLarge
from receiptd.events import EventBus
from receiptd.journal import Journal, Print, Receipt, format_ts
from receiptd.render import paper_length_mm, render
from receiptd.render.profiles import Profile


class Backend(Protocol):
    """What the API needs from the running daemon."""

    config: Config
    bus: EventBus

    def journal(self) -> Journal: ...  # one per calling thread
    def profile(self, printer: str) -> Profile: ...
    def wake(self, printer: str) -> None: ...
    def printer_health(self, printer: str) -> dict[str, Any]: ...
    def recover(self, printer: str) -> None: ...
    def metrics(self) -> bytes: ...


# ---------------------------------------------------------------------- response models


class PrintOut(BaseModel):
    id: int
    kind: Literal["original", "interrupted_retry", "reprint"]
    state: Literal["queued", "sending", "printed", "interrupted", "cancelled"]
    attempt: int
    copy_number: int | None
    requested_by: str | None
    reason: str | None
    created_at: str | None
    sent_at: str | None
    finished_at: str | None
    outcome: str | None
    confirmation: str | None


class ReceiptOut(BaseModel):
    id: int
    printer: str
    state: Literal["queued", "printing", "printed", "cancelled"]
    kind: Literal["document", "text", "raw"]
    order_ref: str | None
    idempotency_key: str | None
    submitted_by: str | None
    created_at: str | None
    printed_at: str | None
    copies: int
    prints: list[PrintOut]


class ReceiptList(BaseModel):
    receipts: list[ReceiptOut]
    next_before_id: int | None = Field(None, description="pass as before_id for the next page")


class ReprintRequest(BaseModel):
    reason: str | None = Field(None, max_length=500)


class ReprintOut(BaseModel):
    receipt: ReceiptOut
    print: PrintOut


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 403, 404, 409, 413, 422, 503)
}


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def print_out(p: Print) -> PrintOut:
    return PrintOut(
        id=p.id, kind=p.kind, state=p.state, attempt=p.attempt, copy_number=p.copy_number,
        requested_by=p.requested_by, reason=p.reason, created_at=_time(p.created_at),
        sent_at=_time(p.sent_at), finished_at=_time(p.finished_at), outcome=p.outcome,
        confirmation=p.confirmation,
    )


def receipt_out(r: Receipt) -> ReceiptOut:
    return ReceiptOut(
        id=r.id, printer=r.printer, state=r.state, kind=r.kind, order_ref=r.order_ref,
        idempotency_key=r.idempotency_key, submitted_by=r.submitted_by,
        created_at=_time(r.created_at), printed_at=_time(r.printed_at), copies=r.copies,
        prints=[print_out(p) for p in r.prints],
    )


# ---------------------------------------------------------------------- limits and errors


class BodyLimit:
    """Reject bodies over ``limit`` bytes, declared or streamed, before any handler runs."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit, send)
            return
        seen = 0
        exceeded = started = False

        async def limited() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                exceeded = True
                raise TooLarge(f"request body exceeds {self.limit} bytes")
            return message

        async def guarded(message: Message) -> None:
            # FastAPI turns an error while reading the body into its own 400: once the limit
            # is crossed, drop whatever the app answers and send the 413 below instead.
            nonlocal started
            if exceeded and not started:
                return
            started = True
            await send(message)

        with contextlib.suppress(TooLarge):
            await self.app(scope, limited, guarded)
        if exceeded and not started:
            await _too_large(self.limit, send)


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps({"error": {"code": "too_large",
                                 "message": f"request body exceeds {limit} bytes"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
               403: "forbidden", 413: "too_large"}


_SIZE_ERRORS = {"too_large", "string_too_long", "too_long", "bytes_too_long"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ReceiptdError)
    async def _receiptd(request: Request, exc: ReceiptdError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "request body is not valid JSON")
        # A size limit (too many blocks, too much text, an image too big) is 413 too_large,
        # like a body over max_body_bytes: the client must send less, not something else.
        size = [e for e in errors if e.get("type") in _SIZE_ERRORS and e.get("loc", ("",))[0]
                == "body"]
        parts = []
        for e in (size or errors)[:10]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {e.get('msg')}")
        if size:
            return error_response(413, "too_large", "; ".join(parts))
        in_document = any("document" in map(str, e.get("loc", ())) for e in errors)
        code = "invalid_document" if in_document else "invalid_request"
        return error_response(422, code, "; ".join(parts))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # A number too big for SQLite's 64-bit integers (an id, a paging cursor): the
        # caller's mistake, not a 500.
        return error_response(422, "invalid_request", "a number in the request is out of range")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))


# ---------------------------------------------------------------------- auth


class Caller(BaseModel):
    name: str
    role: str


def require(role: str) -> Callable[..., Awaitable[Caller]]:
    """The dependency that admits ``role`` and above (see ``receiptd.auth``)."""

    async def dependency(request: Request) -> Caller:
        auth: Authenticator = request.app.state.authenticator
        found = auth.fast(request.headers.get("authorization", ""))
        if isinstance(found, str):  # a stored token not in the cache: journal + scrypt
            found = await run_in_threadpool(auth.slow, found)
        if ROLE_RANK[found.role] < ROLE_RANK[role]:
            raise Forbidden(f"this needs the {role} role; token {found.name!r} is {found.role}")
        return Caller(name=found.name, role=found.role)

    dependency.required_role = role  # type: ignore[attr-defined]  # for annotate_roles()
    return dependency


def annotate_roles(app: FastAPI) -> None:
    """Write each operation's role into the OpenAPI document (``x-required-role``; ``none``
    for public routes), read from the route's own ``require()`` dependency."""
    routes = list(app.routes)
    while routes:
        route = routes.pop()
        included = getattr(route, "original_router", None)  # FastAPI's lazily included router
        if included is not None:
            routes += included.routes
        if not isinstance(route, APIRoute):
            continue
        roles = [getattr(d.call, "required_role", None) for d in route.dependant.dependencies]
        role = next((r for r in roles if r), "none")
        route.openapi_extra = {**(route.openapi_extra or {}), "x-required-role": role}
        if role != "none":  # and the error bodies it can answer with, on every route
            route.responses = {**ERRORS, **route.responses}


def _iso_only(value: Any) -> Any:
    """Query times are ISO-8601 text, as documented; pydantic alone would also take a bare
    number as Unix seconds (``until=0.0``), which no client means."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected an ISO-8601 date-time, e.g. 2026-05-01T12:00:00Z")
    return value


#: A date-time query parameter (ISO-8601 only).
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only)]

#: SQLite integers are 64-bit: a larger id cannot exist (and would not bind).
MAX_ID = 2**63 - 1
ReceiptId = Annotated[int, PathParam(ge=1, le=MAX_ID)]

Pos = Annotated[Caller, Depends(require("pos"))]
Cashier = Annotated[Caller, Depends(require("cashier"))]
Admin = Annotated[Caller, Depends(require("admin"))]


# ---------------------------------------------------------------------- the app


def require_printer(backend: Backend, printer: str) -> str:
    if printer not in backend.config.printers:
        raise NotFound(f"no printer named {printer!r}", code="unknown_printer")
    return printer


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="receiptd",
        version=__version__,
        description="Journaled ESC/POS receipt printing: no receipt lost, none silently "
        "duplicated.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.authenticator = Authenticator(backend.config.tokens, backend.journal)
    with contextlib.suppress(ReceiptdError):  # counted on first use if the journal is down
        app.state.authenticator.refresh()
    _install_error_handlers(app)
    if backend.config.daemon.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(backend.config.daemon.cors_origins),
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=backend.config.daemon.max_body_bytes)

    def known_printer(printer: str) -> str:
        return require_printer(backend, printer)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/v1/printers/{printer}/receipts", status_code=202, response_model=ReceiptOut,
              responses=ERRORS, tags=["receipts"])
    def submit(printer: str, submission: Submission, caller: Pos, response: Response) -> ReceiptOut:
        known_printer(printer)
        profile = backend.profile(printer)
        content = submission.content()
        if content.kind == "raw":
            check_raw(content.raw_bytes())
        rendered = render(content, profile)  # proves it is printable before we accept it
        content_json = content.model_dump_json(exclude_none=True)
        request_hash = hashlib.sha256(
            json.dumps([printer, content_json, submission.order_ref]).encode()
        ).hexdigest()
        receipt, created = backend.journal().submit(
            printer=printer, kind=content.kind, content_json=content_json, rendered=rendered,
            profile=profile.name, request_hash=request_hash,
            idempotency_key=submission.idempotency_key, order_ref=submission.order_ref,
            submitted_by=caller.name, paper_mm=paper_length_mm(content, profile),
        )
        if created:
            # Publish before waking the spooler, so "queued" comes before its "sending".
            backend.bus.publish("receipt", {"receipt_id": receipt.id, "printer": printer,
                                            "state": receipt.state, "print_state": "queued"})
            backend.wake(printer)
        else:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        return receipt_out(receipt)

    @app.get("/v1/receipts/{receipt_id}", response_model=ReceiptOut, responses=ERRORS,
             tags=["receipts"])
    def get_receipt(receipt_id: ReceiptId, caller: Pos) -> ReceiptOut:
        return receipt_out(backend.journal().get_receipt(receipt_id))

    @app.get("/v1/receipts", response_model=ReceiptList, responses=ERRORS, tags=["receipts"])
    def search(
        caller: Cashier,
        printer: str | None = None,
        order_ref: str | None = None,
        state: Literal["queued", "printing", "printed", "cancelled"] | None = None,
        since: Annotated[IsoDatetime | None, Query(description="ISO-8601, inclusive")] = None,
        until: Annotated[IsoDatetime | None, Query(description="ISO-8601, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before_id: Annotated[int | None, Query(ge=1, description="paging cursor")] = None,
    ) -> ReceiptList:
        rows = backend.journal().find_receipts(
            printer=printer, order_ref=order_ref, state=state, since=since, until=until,
            limit=limit, before_id=before_id,
        )
        nxt = rows[-1].id if len(rows) == limit else None
        return ReceiptList(receipts=[receipt_out(r) for r in rows], next_before_id=nxt)

    @app.post("/v1/receipts/{receipt_id}/cancel", response_model=ReceiptOut, responses=ERRORS,
              tags=["receipts"])
    def cancel(receipt_id: ReceiptId, caller: Admin) -> ReceiptOut:
        receipt = backend.journal().cancel(receipt_id, by=caller.name)
        backend.bus.publish("receipt", {"receipt_id": receipt.id, "printer": receipt.printer,
                                        "state": receipt.state})
        return receipt_out(receipt)

    @app.get("/v1/printers", responses=ERRORS, tags=["printers"])
    def printers(caller: Admin) -> dict[str, list[dict[str, Any]]]:
        return {"printers": [backend.printer_health(n) for n in backend.config.printers]}

    @app.get("/v1/printers/{printer}", responses=ERRORS, tags=["printers"])
    def printer_detail(printer: str, caller: Admin) -> dict[str, Any]:
        return backend.printer_health(known_printer(printer))

    @app.post("/v1/printers/{printer}/recover", responses=ERRORS, tags=["printers"])
    def recover(printer: str, caller: Admin) -> dict[str, Any]:
        backend.recover(known_printer(printer))
        return backend.printer_health(printer)

    @app.get("/v1/events", tags=["events"], response_class=StreamingResponse)
    async def events(request: Request, caller: Pos) -> StreamingResponse:
        last = request.headers.get("last-event-id")
        after = int(last) if last and last.isdigit() else None
        queue, missed = backend.bus.subscribe(after)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n\n"
                for event in missed:
                    yield _sse(event.id, event.type, event.data)
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=15)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield _sse(event.id, event.type, event.data)
            finally:
                backend.bus.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics(caller: Admin) -> Response:
        return Response(backend.metrics(), media_type="text/plain; version=0.0.4")

    from receiptd.api.journal import journal_router  # it builds on this module's models and roles

    app.include_router(journal_router(backend))
    from receiptd.api.tokens import token_router

    app.include_router(token_router())
    from receiptd.api.admin import add_admin_routes  # printer event history, /v1/system (doctor)

    add_admin_routes(app, backend, require("admin"))
    annotate_roles(app)
    return app


def _sse(event_id: int, event_type: str, data: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(data)}\n\n".encode()


