"""Route dependencies: who is calling and with which role, and whether a printer exists.

A route states its role by taking ``Pos``, ``Cashier`` or ``Admin`` (``pos < cashier <
admin``); ``annotate_roles`` then publishes that role in the OpenAPI document, so the document
cannot disagree with what the route enforces. ``authorize(request, role)`` is the same check
as a plain function, for routes declared in ``receiptd.api.routing``. Tokens themselves are
checked in ``receiptd.api.auth``; a browser signed in to the console sends a session cookie
instead (``receiptd.api.sessions``), which is the same caller for every route, with a CSRF
token on writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from receiptd.api.auth import ROLE_RANK, Authenticator, Identity
from receiptd.api.models import ERRORS
from receiptd.api.sessions import COOKIE, CSRF_HEADER, csrf_matches
from receiptd.api.throttle import AuthBusy, TooManyFailures
from receiptd.errors import Forbidden, Unauthorized

#: How long a throttled caller waits for its 429 / 503.
THROTTLED_ANSWER_DELAY_S = 1.0


class Caller(BaseModel):
    name: str
    role: str


#: The bearer scheme in the OpenAPI document (Swagger UI's Authorize button, so "Try it
#: out" sends the token); ``annotate_roles`` names it on every operation that needs a role.
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer",
                               "description": "a token: configured, or made with "
                               "POST /v1/tokens"}}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def identify(request: Request, header: str | None = None) -> Identity:
    """Who is calling: the bearer token (``header``, else the request's ``Authorization``),
    else the console's session cookie. A write riding on the cookie must also carry the
    session's CSRF token; a bearer request needs none (no other site can attach one)."""
    auth: Authenticator = request.app.state.authenticator
    client = client_address(request)
    if header is None:
        header = request.headers.get("authorization")
        sid = request.cookies.get(COOKIE)
        if header is None and sid:
            session = auth.sessions.get(sid)
            if session is not None:
                if request.method not in _SAFE_METHODS and not csrf_matches(
                        session, request.headers.get(CSRF_HEADER)):
                    raise Forbidden("a write from the console must carry its session's CSRF "
                                    "token (X-CSRF-Token); reload the page", code="csrf_failed")
                return Identity(session.name, session.role)
            if not auth.open:
                raise Unauthorized("the console session has ended (expired, signed out, its "
                                   "token revoked, or the daemon restarted): sign in again")
    try:
        found = auth.fast(header or "", client)
        if isinstance(found, str):  # a stored token not in the cache: journal + scrypt
            found = await auth.verify(found, client)
    except (TooManyFailures, AuthBusy):
        # Answer a throttled client slowly: waiting costs nothing here, and a flood of
        # retries would otherwise keep the event loop busy answering 429s.
        await asyncio.sleep(THROTTLED_ANSWER_DELAY_S)
        raise
    return found


def require(role: str) -> Callable[..., Awaitable[Caller]]:
    """The dependency that admits ``role`` and above."""

    async def dependency(request: Request) -> Caller:
        found = await identify(request)
        if ROLE_RANK.get(found.role, 0) < ROLE_RANK[role]:  # "metrics" is outside the ranks
            raise Forbidden(f"this needs the {role} role; token {found.name!r} is {found.role}")
        return Caller(name=found.name, role=found.role)

    dependency.required_role = role  # type: ignore[attr-defined]  # for annotate_roles()
    return dependency


Pos = Annotated[Caller, Depends(require("pos"))]
Cashier = Annotated[Caller, Depends(require("cashier"))]
Admin = Annotated[Caller, Depends(require("admin"))]


#: Who may scrape ``/metrics``: a Prometheus server's own ``metrics`` token (which opens
#: nothing else), or an admin.
METRICS_ROLES = frozenset({"metrics", "admin"})


async def authorize(request: Request, role: str) -> Caller:
    """The caller, if its role admits ``role`` (and above); ``metrics`` is checked by set,
    not by rank: a scraper's token must not read receipts, and a cashier's must not read the
    shop's counters."""
    if role == "metrics":  # a bearer token only: a scraper has no console session
        found = await identify(request, request.headers.get("authorization", ""))
        if found.role not in METRICS_ROLES:
            raise Forbidden(f"this needs the metrics or admin role; token {found.name!r} is "
                            f"{found.role}")
        return Caller(name=found.name, role=found.role)
    found = await identify(request)
    if ROLE_RANK.get(found.role, 0) < ROLE_RANK[role]:  # "metrics" is outside the ranks
        raise Forbidden(f"this needs the {role} role; token {found.name!r} is {found.role}")
    return Caller(name=found.name, role=found.role)


def client_address(request: Request) -> str:
    """The caller's IP address; ``local`` on the Unix socket (no address there)."""
    return request.client.host if request.client else "local"


def authenticator(request: Request) -> Authenticator:
    """The app's one ``Authenticator`` (made by ``create_app``)."""
    found: Authenticator = request.app.state.authenticator
    return found


def annotate_roles(app: FastAPI) -> None:
    """Write each operation's role into the OpenAPI document (``x-required-role``; ``none``
    for public routes), read from the route's own ``require()`` dependency, and the bearer
    scheme on each operation that needs a role."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = build()  # cached by FastAPI after the first call
        if first:
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
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
        if role != "none":  # the scheme, and the error statuses it can answer with
            route.openapi_extra["security"] = [{"bearer": []}]
            route.responses = {**_ERROR_STATUSES, **route.responses}


#: Listed without a body schema: a route shows ``ErrorOut`` where it declares
#: ``responses=ERRORS`` itself (every route but ``/metrics``, ``/v1/events``, ``/v1/system`` and
#: ``/v1/printers/{printer}/events`` does).
_ERROR_STATUSES: dict[int | str, dict[str, Any]] = {status: {} for status in ERRORS}


