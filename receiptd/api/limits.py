"""The request body limit (``[daemon] max_body_bytes``), enforced before any handler runs.

A body over the limit answers 413 ``too_large`` whether its ``Content-Length`` says so up front
or it only grows too big while streaming in; nothing of it is parsed.
"""

from __future__ import annotations

import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiptd.errors import TooLarge


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
            # The app may answer an error of its own while reading the body: once the limit
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
