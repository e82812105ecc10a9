"""``/v1/events``: receipt and printer state changes as server-sent events.

A reconnecting client sends ``Last-Event-ID`` and first gets what it missed (as far as the
bus's short history reaches); a comment every 15 s keeps proxies from closing a quiet stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from receiptd.api.backend import Backend
from receiptd.api.deps import Pos

KEEP_ALIVE_S = 15


def events_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.get("/v1/events", response_class=StreamingResponse)
    async def events(request: Request, caller: Pos) -> StreamingResponse:
        last = request.headers.get("last-event-id")
        after = int(last) if last and last.isdigit() else None
        queue, missed = backend.bus.subscribe(after)

        async def stream() -> AsyncIterator[bytes]:
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

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return router


def sse(event_id: int, event_type: str, data: dict[str, Any]) -> bytes:
    """One event in the ``text/event-stream`` format."""
    return f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(data)}\n\n".encode()
