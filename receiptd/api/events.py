"""``/v1/events``: receipt and printer state changes as server-sent events.

A reconnecting client sends ``Last-Event-ID`` and first gets what it missed (as far as the
bus's short history reaches); a comment every 15 s keeps proxies from closing a quiet stream.

A stream holds a connection for as long as the client likes, so there are at most
``MAX_STREAMS`` of them, ``MAX_STREAMS_PER_CLIENT`` from one address: the rest of the
connections stay free for submitting receipts. A stream over the limit is refused with 503
``too_many_streams`` before it starts.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from receiptd.api.deps import client_address
from receiptd.api.routing import Route
from receiptd.errors import ClientError, ReceiptdError
from receiptd.intake.backend import Backend

KEEP_ALIVE_S = 15
MAX_STREAMS = 64
MAX_STREAMS_PER_CLIENT = 16
#: An event id as this daemon writes it: decimal digits, at most 19 (64-bit).
_EVENT_ID = re.compile(r"[0-9]{1,19}")


class TooManyStreams(ReceiptdError):
    """Every event stream this daemon keeps (in all, or for this address) is taken."""

    code = "too_many_streams"
    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": "10"}


def last_event_id(request: Request) -> int | None:
    """``Last-Event-ID`` as a number; 400 ``invalid_last_event_id`` if it is not one of ours
    (only ASCII digits: ``str.isdigit`` also takes "²", and ``int`` refuses 4,300 digits)."""
    value = request.headers.get("last-event-id")
    if value is None or value == "":
        return None
    if not _EVENT_ID.fullmatch(value):
        raise ClientError("Last-Event-ID must be an event id this daemon sent (decimal digits)",
                          code="invalid_last_event_id")
    return int(value)


def events_routes(backend: Backend) -> list[Route]:
    open_streams: Counter[str] = Counter()  # by client address; touched on the event loop

    async def events(request: Request) -> StreamingResponse:
        after = last_event_id(request)
        client = client_address(request)
        if open_streams.total() >= MAX_STREAMS:
            raise TooManyStreams(f"all {MAX_STREAMS} event streams are taken; retry later")
        if open_streams[client] >= MAX_STREAMS_PER_CLIENT:
            raise TooManyStreams(f"this address already has {MAX_STREAMS_PER_CLIENT} event "
                                 "streams open; close one first")

        async def stream() -> AsyncIterator[bytes]:
            # Counted and subscribed once the stream runs, so that one never started (the
            # client gone before the answer) holds neither a place nor a queue.
            open_streams[client] += 1
            queue, missed = backend.bus.subscribe(after)
            try:
                yield b"retry: 1000\n\n"
                for event in missed:
                    yield sse(event.id, event.type, event.data)
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=KEEP_ALIVE_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield sse(event.id, event.type, event.data)
            finally:
                backend.bus.unsubscribe(queue)
                open_streams[client] -= 1
                if open_streams[client] <= 0:
                    del open_streams[client]

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return [Route("GET", "/v1/events", events, role="pos", tags=("events",), errors=False)]


def sse(event_id: int, event_type: str, data: dict[str, Any]) -> bytes:
    """One event in the ``text/event-stream`` format."""
    return f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(data)}\n\n".encode()
