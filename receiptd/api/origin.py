"""Requests a web browser was tricked into sending: cross-site writes and DNS rebinding.

A bearer token cannot be attached by a page of another site, but in open mode (no token at
all, every caller is ``admin``) any page the POS terminal's browser shows could POST to
``http://127.0.0.1:8631`` (a reprint, a cancel, a new token), or rename itself to an address
that resolves to this machine and read the journal as a "same-origin" page. So:

* a write (any method but GET, HEAD and OPTIONS) that a browser marks as coming from another
  site (``Sec-Fetch-Site``, or an ``Origin`` that is not the address it was sent to) is
  refused with 403 ``cross_site_request``, unless ``[daemon] cors_origins`` names that origin;
* in open mode, a request whose ``Host`` is a name rather than an IP address or ``localhost``
  (or the listen address's own name) is refused with 403 ``host_not_allowed``.

The ePOS-Print path (``EPOS_PATH``, which is ``receiptd.epos.SERVICE_PATH``) takes no token,
so it is held to the open-mode ``Host`` rule always; and a page on the same host as the
request, on any port (a POS web app served beside receiptd), may post to it, as well as the
``cors_origins``.

Clients that are not browsers send neither header and are not affected; nor is the Unix
socket, which no browser reaches.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
#: ``receiptd.epos.SERVICE_PATH``, written here so that a daemon not serving ePOS-Print does
#: not import the ePOS package (its XML parser and converter) to know the path.
EPOS_PATH = "/cgi-bin/epos/service.cgi"


class BrowserGuard:
    """ASGI middleware refusing cross-site writes always, and foreign ``Host`` names in open
    mode (``is_open()``)."""

    def __init__(self, app: ASGIApp, *, is_open: Callable[[], bool],
                 allowed_origins: Sequence[str] = (), listen_host: str | None = None) -> None:
        self.app = app
        self.is_open = is_open
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.names = {"localhost"} | ({listen_host.lower()} if listen_host else set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("client") is None:  # Unix socket: no browser
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        epos = scope["path"] == EPOS_PATH  # no token there: see the module docstring
        if scope["method"] not in _SAFE_METHODS and self._cross_site(headers, epos):
            await _refuse(send, "cross_site_request",
                          "a web page of another site may not send this request; list its "
                          "origin in [daemon] cors_origins if it is yours")
            return
        if (epos or self.is_open()) and not self._host_allowed(headers.get("host")):
            await _refuse(send, "host_not_allowed",
                          "without tokens the API answers only requests addressed to an IP "
                          "address or localhost; use one, or add a token")
            return
        await self.app(scope, receive, send)

    def _cross_site(self, headers: Headers, same_host_ok: bool = False) -> bool:
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() in self.allowed_origins:
            return False
        if same_host_ok and origin is not None and same_host(origin, headers.get("host")):
            return False
        if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return True
        if origin is None:
            return False
        try:
            return urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
        except ValueError:  # "null" (a sandboxed page, a file) parses; nonsense does not
            return True

    def _host_allowed(self, host: str | None) -> bool:
        if not host:
            return True  # HTTP/1.0 without Host: not a browser
        try:
            name = urlsplit(f"//{host}").hostname
        except ValueError:
            return False
        if name is None:
            return False
        if name in self.names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def same_host(origin: str, host: str | None) -> bool:
    """Whether a browser's ``Origin`` names the host the request was sent to (any port)."""
    try:
        mine = urlsplit(f"//{host}").hostname if host else None
        theirs = urlsplit(origin).hostname
    except ValueError:
        return False
    return mine is not None and theirs is not None and mine == theirs


async def _refuse(send: Send, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
