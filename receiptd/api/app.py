"""The HTTP API (FastAPI): builds the app, maps errors, mounts one router per resource.

The API holds no state of its own; everything goes through the ``Backend`` it is given. Every
error is ``{"error": {"code": ..., "message": ...}}`` with a stable code (``models.ErrorOut``).
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from receiptd import __version__
from receiptd.api.auth import Authenticator
from receiptd.api.console import console_router
from receiptd.api.deps import annotate_roles
from receiptd.api.events import events_router
from receiptd.api.health import health_router
from receiptd.api.journal import journal_router
from receiptd.api.limits import BodyLimit
from receiptd.api.origin import BrowserGuard
from receiptd.api.printers import printers_router
from receiptd.api.receipts import receipts_router
from receiptd.api.reprint import reprint_router
from receiptd.api.tokens import token_router
from receiptd.config import parse_listen
from receiptd.errors import JournalCorrupt, ReceiptdError
from receiptd.intake.backend import Backend

__all__ = ["create_app", "error_response"]


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="receiptd",
        version=__version__,
        description="Journaled ESC/POS receipt printing: no receipt lost, none silently "
        "duplicated.",
        openapi_url="/v1/openapi.json",
        # Served by the console router from packaged files (no CDN); no OAuth redirect page,
        # since the only scheme is a bearer token.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
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
    listen = backend.config.daemon.listen
    app.add_middleware(BrowserGuard, is_open=lambda: app.state.authenticator.open,
                       allowed_origins=backend.config.daemon.cors_origins,
                       listen_host=parse_listen(listen)[0] if listen else None)
    app.include_router(health_router(backend))
    app.include_router(receipts_router(backend))
    app.include_router(printers_router(backend))
    app.include_router(events_router(backend))
    app.include_router(reprint_router(backend))
    app.include_router(journal_router(backend))
    app.include_router(token_router())
    app.include_router(console_router(backend))  # the web console, sign-in, /v1/docs
    if backend.config.daemon.epos:
        from receiptd.api.epos import install_epos  # only where it is served

        install_epos(app, backend)  # ePOS-Print: its route and its CORS
    annotate_roles(app)
    return app


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
               403: "forbidden", 413: "too_large"}

#: Validation errors that mean "too much", answered 413 like a body over max_body_bytes.
_SIZE_ERRORS = {"too_large", "string_too_long", "too_long", "bytes_too_long"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ReceiptdError)
    async def _receiptd(request: Request, exc: ReceiptdError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message)
        response.headers.update(getattr(exc, "headers", None) or {})  # Retry-After
        return response

    @app.exception_handler(JournalCorrupt)
    async def _corrupt(request: Request, exc: JournalCorrupt) -> JSONResponse:
        # The daemon refuses to start on a damaged journal, so damage found while it serves
        # (a worker opening its connection on a failing disk) is the disk's failure to the
        # client: 503 journal_unavailable, nothing accepted, retry.
        return error_response(503, "journal_unavailable", exc.message)

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
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI's own 400 for a body json.loads could not read: bytes that are not
            # UTF-8 (UnicodeDecodeError) or nesting deeper than the parser goes.
            return error_response(400, "malformed_json", f"request body is not valid JSON: "
                                  f"{type(exc.__cause__).__name__}")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))
