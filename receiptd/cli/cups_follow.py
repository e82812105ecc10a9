"""Following one receipt from "accepted" to "printed" for the CUPS backend, and showing CUPS
what holds it up.

The backend's token needs only the ``pos`` role: it learns the printer's state from the event
stream (``GET /v1/events``: ``printer`` changes, and ``waiting`` for a receipt held up by a
fault), not from the admin-only health view. The stream is open before the receipt is
submitted, so no change in between is missed, and it starts with the events the daemon still
holds, so a fault that began before the job shows too. The receipt itself is also read every
few seconds, so a dropped stream or a restarted daemon only delays the answer.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from receiptd.cli.client import ApiError, Client, error_of, unreachable
from receiptd.cli.cups_report import CONNECTING, Reporter

#: How often the receipt is read even when no event says it changed.
POLL_S = 2.0
#: The daemon sends a comment every 15 s: a stream silent for longer has died.
STREAM_READ_TIMEOUT_S = 45.0
#: Waits between attempts while receiptd cannot be reached or is busy.
BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
#: Answers that mean "not now": the same request may succeed later.
TRANSIENT = frozenset({0, 408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]


class EventStream:
    """``GET /v1/events`` read in a thread into a queue; reconnects with ``Last-Event-ID``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.events: queue.Queue[Event] = queue.Queue()
        self.connected = threading.Event()
        # "0": the daemon first replays the events it still holds (its last 256), so the
        # printer's latest state change is known even if it happened before this job.
        self._last_id = "0"
        self._thread = threading.Thread(target=self._run, name="cups-events", daemon=True)

    def start(self, timeout: float) -> bool:
        """Start reading; True once the daemon is streaming to us (subscribed)."""
        self._thread.start()
        return self.connected.wait(timeout)

    def _run(self) -> None:
        attempt = 0
        while True:
            try:
                self._read()
                attempt = 0
            except (httpx.HTTPError, ApiError, ValueError):
                pass
            self.connected.clear()
            time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    def _read(self) -> None:
        headers = {"Last-Event-ID": self._last_id}
        timeout = httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT_S)
        with self.client.http.stream("GET", "/v1/events", headers=headers,
                                     timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise error_of(response)
            kind, data = "message", ""
            for line in response.iter_lines():
                self.connected.set()
                if line.startswith("id:"):
                    self._last_id = line[3:].strip()
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "":
                    if data:
                        self.events.put(Event(kind, json.loads(data)))
                    kind, data = "message", ""

    def get(self, timeout: float) -> Event | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None


def get_receipt(client: Client, receipt_id: int) -> dict[str, Any]:
    try:
        response = client.http.get(f"/v1/receipts/{receipt_id}")
    except httpx.HTTPError as exc:
        raise unreachable(exc) from exc
    if response.status_code >= 400:
        raise error_of(response)
    body: dict[str, Any] = response.json()
    return body


def follow(client: Client, stream: EventStream, reporter: Reporter, printer: str,
           receipt_id: int) -> str:
    """Wait until the receipt is printed, failed or cancelled; returns that state. Until
    then, the queue's reasons follow the printer's state as receiptd reports it."""
    next_poll = 0.0
    held_told = False
    while True:
        event = stream.get(timeout=0.25)
        if event is not None:
            data = event.data
            if event.type == "printer" and data.get("printer") == printer:
                reporter.printer_state(str(data.get("state")), _hint(data))
            elif event.type == "waiting" and data.get("receipt_id") == receipt_id:
                reporter.printer_state(str(data.get("printer_state")), _hint(data))
            elif event.type == "receipt" and data.get("receipt_id") == receipt_id:
                next_poll = 0.0  # read it now
        if time.monotonic() < next_poll:
            continue
        next_poll = time.monotonic() + POLL_S
        try:
            receipt = get_receipt(client, receipt_id)
        except ApiError as exc:
            if exc.status not in TRANSIENT:
                raise
            reporter.show(reporter.shown | {CONNECTING})
            reporter.info(f"waiting for receiptd: {exc}")
            continue
        reporter.show(reporter.shown - {CONNECTING})
        state = str(receipt["state"])
        if state in ("printed", "failed", "cancelled"):
            return state
        if state == "held" and not held_told:
            held_told = True
            reporter.warning(f"receipt {receipt_id} is held after repeated interrupted "
                             "prints: it prints again (marked) after a cashier's reprint or "
                             "an admin's recover")


def _hint(data: dict[str, Any]) -> str | None:
    hint = data.get("hint")
    return str(hint.get("en")) if isinstance(hint, dict) and hint.get("en") else None
