"""The web console's routes: its page and files, browser sign-in, the offline API docs, and
the two views the cashier's page needs that the resource routes do not give in one call.

* ``/`` and ``/console/{file}``: the page and its script (``receiptd.console``); public, they
  hold no data. Served with a strict Content-Security-Policy (only this daemon's own scripts,
  no framing), so a receipt's text can never run as script in a manager's browser.
* ``POST /v1/session``: a token in, a session cookie out (``receiptd.api.sessions``);
  ``GET /v1/session`` says who is signed in and hands the page its CSRF token;
  ``POST /v1/session/sign-out`` ends it.
* ``/v1/docs``: Swagger UI from the files a Python package ships (no CDN), reading
  ``/v1/openapi.json``; its Authorize button takes a bearer token. There is no OAuth flow,
  so no OAuth redirect page.
* ``GET /v1/console/till`` (cashier): each printer's state and hint in plain words, what waits
  on it and what is held for a person's decision; ``GET /v1/console/receipts`` (cashier): the
  receipt search with a text match on what the receipt says (an amount, an item).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from receiptd.api.auth import ANONYMOUS, ROLE_RANK
from receiptd.api.deps import Caller, identify
from receiptd.api.docs import DOCS_ASSETS, docs_file, docs_page
from receiptd.api.models import IsoDatetime, ReceiptList, receipt_out
from receiptd.api.routing import REQUIRED, Param, Route
from receiptd.api.sessions import COOKIE, LIFETIME_S
from receiptd.console import ASSETS, asset
from receiptd.errors import Conflict, Forbidden, NotFound
from receiptd.intake.backend import Backend
from receiptd.journal import Receipt, format_ts

log = structlog.get_logger("receiptd.api")

#: The page may load only this daemon's own script, style and images (slip previews are
#: same-origin PNGs); nothing may frame it (a framing page could trick a click on Reprint).
CONSOLE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: Receipts a text search reads at most (newest first, inside the asked time window).
TEXT_SEARCH_SCAN = 500
#: Receipts shown waiting per printer.
WAITING_SHOWN = 50


class SignIn(BaseModel):
    token: str = Field(min_length=1, max_length=512, description="the bearer token's secret")


class SessionOut(BaseModel):
    name: str = Field(description="the token's name, recorded on what this session does")
    role: str
    csrf_token: str | None = Field(
        description="send as X-CSRF-Token on every POST made with the session cookie; "
        "null when the caller used a bearer token (no cookie, no CSRF token needed)")
    expires_at: str | None = Field(description="when the session ends at the latest")


def console_routes(backend: Backend) -> list[Route]:
    def page() -> Response:
        return _asset_response("index.html")

    def console_asset(name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no console file {name!r}")
        return _asset_response(name)

    def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(openapi_url="/v1/openapi.json", title="receiptd API"))

    def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS:
            raise NotFound(f"no docs file {name!r}")
        return Response(docs_file(name), media_type=DOCS_ASSETS[name],
                        headers={"Cache-Control": "max-age=86400"})

    async def sign_in(body: SignIn, request: Request) -> Response:
        """Exchange a token for the console's session cookie (``HttpOnly``,
        ``SameSite=Strict``, ``Secure`` over HTTPS). Failed attempts count against the same
        budget as bearer requests."""
        found = await identify(request, f"Bearer {body.token}")
        if found is ANONYMOUS:  # no token at all: every caller is admin, no sign-in to do
            raise Conflict("no token exists yet, so the console is open without signing in; "
                           "once a token is made, sign in with it", code="no_tokens")
        if found.role not in ROLE_RANK:
            raise Forbidden(f"token {found.name!r} is {found.role}: it cannot sign in to the "
                            "console")
        sessions = request.app.state.authenticator.sessions
        if old := request.cookies.get(COOKIE):
            sessions.close(old)  # signing in again replaces this browser's session
        sid, session = sessions.open(found.name, found.role)
        out = SessionOut(name=found.name, role=found.role, csrf_token=session.csrf,
                         expires_at=_wall(session.expires_wall))
        response = _no_store(out)
        response.set_cookie(COOKIE, sid, max_age=int(LIFETIME_S), path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        log.info("console_signed_in", token=found.name, role=found.role)
        return response

    def who(request: Request, caller: Caller) -> Response:
        """Who this browser is signed in as, and the CSRF token its writes must carry."""
        sid = request.cookies.get(COOKIE)
        session = request.app.state.authenticator.sessions.get(sid) if sid and \
            "authorization" not in request.headers else None
        if session is None:
            return _no_store(SessionOut(name=caller.name, role=caller.role, csrf_token=None,
                                        expires_at=None))
        return _no_store(SessionOut(name=session.name, role=session.role,
                                    csrf_token=session.csrf,
                                    expires_at=_wall(session.expires_wall)))

    def sign_out(request: Request, caller: Caller) -> Response:
        """End this browser's session (its CSRF token is needed, like any write)."""
        sid = request.cookies.get(COOKIE)
        if sid:
            request.app.state.authenticator.sessions.close(sid)
            log.info("console_signed_out", token=caller.name)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def till() -> dict[str, Any]:
        """Per printer: its state with the operator hint (en, zh), the receipts waiting on
        it, and the held ones that wait for a person to say "print now"."""
        journal = backend.journal()
        printers = []
        for name in backend.config.printers:
            health = backend.printer_health(name)
            waiting = [r for state in ("printing", "queued")
                       for r in journal.search.find(printer=name, state=state,
                                                    limit=WAITING_SHOWN)]
            held_ids = sorted({h["receipt_id"] for h in health.get("held", [])}, reverse=True)
            held = []
            for h in health.get("held", []):
                receipt = journal.receipts.get(h["receipt_id"])
                held.append({**h, "order_ref": receipt.order_ref,
                             "created_at": format_ts(receipt.created_at),
                             "printed_at": format_ts(receipt.printed_at)
                             if receipt.printed_at else None})
            printers.append({
                "name": name, "state": health["state"], "since": health["since"],
                "category": health.get("category"), "hint": health.get("hint"),
                "queue": health["queue"],
                "waiting": [receipt_out(r).model_dump() for r in waiting
                            if r.id not in held_ids],
                "held": held,
            })
        return {"printers": printers}

    def find(q: str | None, order_ref: str | None, printer: str | None,
             since: datetime | None, until: datetime | None, limit: int) -> ReceiptList:
        """Newest first, sales only (not doctor's test prints). With ``q``, the newest
        ``TEXT_SEARCH_SCAN`` receipts of the window are read and those whose text contains
        ``q`` kept."""
        rows = backend.journal().search.find(
            printer=printer, order_ref=order_ref or None, since=since, until=until,
            limit=TEXT_SEARCH_SCAN if q else limit)
        rows = [r for r in rows if r.source != "doctor"]  # a test print is not a sale
        if q:
            needle = q.casefold()
            rows = [r for r in rows if needle in receipt_text(r).casefold()][:limit]
        return ReceiptList(receipts=[receipt_out(r) for r in rows], next_before_id=None)

    name = Param("name", str, REQUIRED, "path")
    tags = ("console",)
    return [
        Route("GET", "/", page, in_schema=False),
        Route("GET", "/console/{name}", console_asset, params=(name,), in_schema=False),
        Route("GET", "/v1/docs", docs, in_schema=False),
        Route("GET", "/v1/docs/{name}", docs_asset, params=(name,), in_schema=False),
        Route("POST", "/v1/session", sign_in, body=SignIn, answer=SessionOut, tags=tags),
        Route("GET", "/v1/session", who, role="pos", answer=SessionOut, tags=tags),
        Route("POST", "/v1/session/sign-out", sign_out, role="pos", status=204, tags=tags),
        Route("GET", "/v1/console/till", till, role="cashier", answer=dict[str, Any],
              tags=tags),
        Route("GET", "/v1/console/receipts", find, role="cashier", answer=ReceiptList,
              tags=tags, params=(
                  Param("q", Annotated[str | None, Field(max_length=200)], None,
                        description="text on the receipt (an amount, an item), "
                        "case-insensitive"),
                  Param("order_ref", Annotated[str | None, Field(max_length=128)], None),
                  Param("printer", str | None, None),
                  Param("since", IsoDatetime | None, None, description="ISO-8601, inclusive"),
                  Param("until", IsoDatetime | None, None, description="ISO-8601, exclusive"),
                  Param("limit", Annotated[int, Field(ge=1, le=200)], 50))),
    ]


def receipt_text(receipt: Receipt) -> str:
    """Every string a receipt's document or text holds, joined (raw receipts: none)."""
    try:
        content = json.loads(receipt.content)
    except ValueError:
        return ""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("png", "raw", "type"):  # images and bytes are not text
                    walk(item)

    walk({k: v for k, v in content.items() if k != "raw"})
    return "\n".join(parts)


def _asset_response(name: str) -> Response:
    return Response(asset(name), media_type=ASSETS[name],
                    headers={**CONSOLE_HEADERS, "Cache-Control": "no-cache"})


def _no_store(out: SessionOut) -> Response:
    """A session answer: never cached (it carries the CSRF token)."""
    return Response(out.model_dump_json(), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def _wall(unix: float) -> str:
    return format_ts(datetime.fromtimestamp(unix, UTC))
