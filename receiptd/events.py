"""Fan-out of receipt and printer state changes to server-sent-event clients.

Publishers are worker threads; subscribers are asyncio queues on the API's event loop. A short
ring of recent events lets a reconnecting client resume from ``Last-Event-ID``.

Event ids increase across restarts too: a run's first id is the time it started, in
microseconds since the epoch, so it lies above every id an earlier run issued (as long as the
clock does not go back and no run published more than one event per microsecond). A client
resuming from an id this run did not issue (an earlier run's, or one never issued) cannot have
seen anything of this run: it gets the whole ring.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    type: str  # "receipt" | "printer"
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    def __init__(self, history: int = 256, queue_size: int = 1024,
                 first_id: int | None = None) -> None:
        self._lock = threading.Lock()
        self.first_id = first_id if first_id is not None else max(1, time.time_ns() // 1000)
        self._last_id = self.first_id - 1
        self._ids = itertools.count(self.first_id)
        self._recent: collections.deque[Event] = collections.deque(maxlen=history)
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._queue_size = queue_size

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        with self._lock:
            event = Event(next(self._ids), type_, data)
            self._last_id = event.id
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # loop closed: the subscriber is gone
                self._drop(loop, queue)
        return event

    def subscribe(self, after: int | None = None) -> tuple[asyncio.Queue[Event], list[Event]]:
        """Register the running loop's queue; return it and the missed events after ``after``
        (the whole ring when this run did not issue ``after``; none when ``after`` is None)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
            if after is not None and not self.first_id <= after <= self._last_id:
                after = 0
            missed = [e for e in self._recent if after is not None and e.id > after]
        return queue, missed

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    def _drop(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Event]) -> None:
        with self._lock:
            self._subscribers.discard((loop, queue))

    def recent(self) -> list[Event]:
        with self._lock:
            return list(self._recent)


def _offer(queue: asyncio.Queue[Event], event: Event) -> None:
    # A client that does not read loses old events rather than growing memory without bound.
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
