"""The HTTP API (Starlette): builds the app from the route table, maps errors.

The API holds no state of its own; everything goes through the ``Backend`` it is given. Every
error is ``{"error": {"code": ..., "message": ...}}`` with a stable code (``models.ErrorOut``).
Routes are declared in one table per resource (``receiptd.api.routing``); the same table
serves the requests and makes the OpenAPI document.
"""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from receiptd import __version__
from receiptd.api.auth import Authenticator
from receiptd.api.console import console_routes
from receiptd.api.events import events_routes
from receiptd.api.health import health_routes
from receiptd.api.journal import journal_routes
from receiptd.api.limits import BodyLimit
from receiptd.api.origin import BrowserGuard
from receiptd.api.printers import printers_routes
from receiptd.api.receipts import receipts_routes
from receiptd.api.reprint import reprint_routes
from receiptd.api.routing import RequestInvalid, Route, starlette_route
from receiptd.api.tokens import token_routes
from receiptd.config import parse_listen
from receiptd.errors import JournalCorrupt, ReceiptdError
from receiptd.intake.backend import Backend

__all__ = ["ReceiptdApp", "create_app", "error_response"]

OPENAPI_URL = "/v1/openapi.json"
TITLE = "receiptd"
DESCRIPTION = "Journaled ESC/POS receipt printing: no receipt lost, none silently duplicated."


class ReceiptdApp(Starlette):
    """The API: a Starlette app that also knows its route table, for the OpenAPI document."""

    def __init__(self, table: list[Route], **kwargs: Any) -> None:
        self.table = table
        self._openapi: dict[str, Any] | None = None
        served = [StarletteRoute(OPENAPI_URL, _openapi_json, methods=["GET"],
                                 include_in_schema=False)]
        served[0].methods.discard("HEAD")  # type: ignore[union-attr]
        super().__init__(routes=[*served, *(starlette_route(r) for r in table)], **kwargs)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document (made on first use, then kept)."""
        if self._openapi is None:
            from receiptd.api.openapi import build_openapi  # pydantic's JSON schema: on use

            self._openapi = build_openapi(self.table, title=TITLE, version=__version__,
                                          description=DESCRIPTION)
        return self._openapi


async def _openapi_json(request: Request) -> Response:
    app: ReceiptdApp = request.app
    return JSONResponse(app.openapi())


def create_app(backend: Backend) -> ReceiptdApp:
    table = [
        *health_routes(backend),
        *receipts_routes(backend),
        *printers_routes(backend),
        *events_routes(backend),
        *reprint_routes(backend),
        *journal_routes(backend),
        *token_routes(),
        *console_routes(backend),  # the web console, sign-in, /v1/docs
    ]
    app = ReceiptdApp(table, exception_handlers=_ERROR_HANDLERS)
    app.state.authenticator = Authenticator(backend.config.tokens, backend.journal)
    with contextlib.suppress(ReceiptdError):  # counted on first use if the journal is down
        app.state.authenticator.refresh()
    if backend.config.daemon.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(backend.config.daemon.cors_origins),
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=backend.config.daemon.max_body_bytes)
    listen = backend.config.daemon.listen
    app.add_middleware(BrowserGuard, is_open=lambda: app.state.authenticator.open,
                       allowed_origins=backend.config.daemon.cors_origins,
                       listen_host=parse_listen(listen)[0] if listen else None)
    if backend.config.daemon.epos:
        from receiptd.api.epos import install_epos  # only where it is served

        install_epos(app, backend)  # ePOS-Print: its route and its CORS
    return app


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
               403: "forbidden", 413: "too_large"}

#: Validation errors that mean "too much", answered 413 like a body over max_body_bytes.
_SIZE_ERRORS = {"too_large", "string_too_long", "too_long", "bytes_too_long"}


async def _receiptd(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReceiptdError)
    response = error_response(exc.status, exc.code, exc.message)
    response.headers.update(getattr(exc, "headers", None) or {})  # Retry-After
    return response


async def _corrupt(request: Request, exc: Exception) -> Response:
    # The daemon refuses to start on a damaged journal, so damage found while it serves
    # (a worker opening its connection on a failing disk) is the disk's failure to the
    # client: 503 journal_unavailable, nothing accepted, retry.
    assert isinstance(exc, JournalCorrupt)
    return error_response(503, "journal_unavailable", exc.message)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestInvalid)
    errors = exc.errors
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        # Not JSON at all: a syntax error, bytes that are not UTF-8, or nesting deeper than
        # the parser goes.
        reason = bad_json.get("reason")
        return error_response(400, "malformed_json", "request body is not valid JSON"
                              + (f": {reason}" if reason else ""))
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


async def _overflow(request: Request, exc: Exception) -> Response:
    # A number too big for SQLite's 64-bit integers (an id, a paging cursor): the caller's
    # mistake, not a 500.
    return error_response(422, "invalid_request", "a number in the request is out of range")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


_ERROR_HANDLERS: Any = {
    ReceiptdError: _receiptd,
    JournalCorrupt: _corrupt,
    RequestInvalid: _invalid,
    OverflowError: _overflow,
    HTTPException: _http,
}
