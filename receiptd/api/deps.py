"""Who is calling, and with which role: ``authorize(request, role)``, which every route that
needs a role awaits before it reads anything else of the request (``receiptd.api.routing``).

Roles are ``pos < cashier < admin``; ``metrics`` stands outside them (it reads ``/metrics``
only). Each route states its role in the route table, which also publishes it in the OpenAPI
document (``x-required-role``), so the document cannot disagree with what is enforced. Tokens
themselves are checked in ``receiptd.api.auth``; a browser signed in to the console sends a
session cookie instead (``receiptd.api.sessions``), which is the same caller for every route,
with a CSRF token on writes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request

from receiptd.api.auth import ROLE_RANK, Authenticator, Identity
from receiptd.api.sessions import COOKIE, CSRF_HEADER, csrf_matches
from receiptd.api.throttle import AuthBusy, TooManyFailures
from receiptd.errors import Forbidden, Unauthorized

#: How long a throttled caller waits for its 429 / 503.
THROTTLED_ANSWER_DELAY_S = 1.0


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


#: The bearer scheme in the OpenAPI document (Swagger UI's Authorize button, so "Try it
#: out" sends the token); the document names it on every operation that needs a role.
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
