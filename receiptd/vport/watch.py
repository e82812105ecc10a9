"""Waiting, on the event loop, for what the worker threads report: a receipt confirmed on
paper (to answer a process ID) and a printer's state changing (to send an ASB block).

One subscription to the event bus serves every virtual port. Events can be missed (the bus
drops old events for a reader that falls behind), so a receipt still awaited is also looked up
in the journal every ``POLL_S``: a process ID may be answered late, never wrongly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import structlog

from receiptd.events import Event
from receiptd.intake import Backend

log = structlog.get_logger("receiptd.vport")

POLL_S = 1.0


class Watch:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._printed: dict[int, list[asyncio.Future[None]]] = defaultdict(list)
        self._changed: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Event] | None = None

    def start(self) -> None:
        self._queue, _ = self._backend.bus.subscribe()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._queue is not None:
            self._backend.bus.unsubscribe(self._queue)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def printed(self, receipt_id: int) -> None:
        """Return once receipt ``receipt_id`` is ``printed`` (cancel to stop waiting)."""
        if await asyncio.to_thread(self._is_printed, receipt_id):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._printed[receipt_id].append(future)
        try:
            await future
        finally:
            waiting = self._printed.get(receipt_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._printed[receipt_id]

    async def changed(self, printer: str, timeout: float) -> None:
        """Return when ``printer`` changes state, or after ``timeout`` seconds."""
        event = self._changed[printer]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            try:
                event = await asyncio.wait_for(self._queue.get(), POLL_S)
            except TimeoutError:
                await self._poll()
                continue
            if event.type == "receipt" and event.data.get("state") == "printed":
                self._resolve(int(event.data["receipt_id"]))
            elif event.type == "printer":
                printer = str(event.data.get("printer"))
                self._changed.pop(printer, asyncio.Event()).set()

    async def _poll(self) -> None:
        for receipt_id in list(self._printed):
            try:
                done = await asyncio.to_thread(self._is_printed, receipt_id)
            except Exception:  # the journal is busy or failing: ask again on the next tick
                log.warning("vport_printed_lookup_failed", receipt=receipt_id, exc_info=True)
                return
            if done:
                self._resolve(receipt_id)

    def _resolve(self, receipt_id: int) -> None:
        for future in self._printed.pop(receipt_id, []):
            if not future.done():
                future.set_result(None)

    def _is_printed(self, receipt_id: int) -> bool:
        return self._backend.journal().receipts.get(receipt_id).state == "printed"
