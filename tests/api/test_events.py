"""Server-sent events from the real daemon, read with a real streaming HTTP client: receipt
state changes in order, ``Last-Event-ID`` resume, and ``waiting`` while a printer is faulted."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document

Factory = Callable[..., DaemonProcess]


class EventStream:
    """``GET /v1/events`` read line by line in a thread; parsed events land in a queue."""

    def __init__(self, daemon: DaemonProcess, last_event_id: int | None = None) -> None:
        headers = {"Authorization": f"Bearer {TOKENS['pos']}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._client = httpx.Client(base_url=daemon.url, headers=headers,
                                    timeout=httpx.Timeout(10, read=60))
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self._opened = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "event stream did not open"
        assert self.status == 200

    def _run(self) -> None:
        try:
            with self._client.stream("GET", "/v1/events") as response:
                self.status = response.status_code
                self._opened.set()
                event: dict[str, Any] = {}
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        event["id"] = int(line[4:])
                    elif line.startswith("event: "):
                        event["event"] = line[7:]
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line == "" and "event" in event:
                        self.events.put(event)
                        event = {}
        except httpx.HTTPError:
            if not self._closed:
                raise
        finally:
            self._opened.set()

    def until(self, predicate: Callable[[dict[str, Any]], bool],
              timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every event up to and including the first that satisfies ``predicate``."""
        seen: list[dict[str, Any]] = []
        while True:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no matching event within {timeout}s; saw {seen}") from None
            seen.append(event)
            if predicate(event):
                return seen

    def close(self) -> None:
        self._closed = True
        self._client.close()
        self._thread.join(5)


@contextmanager
def event_stream(daemon: DaemonProcess, last_event_id: int | None = None
                 ) -> Iterator[EventStream]:
    stream = EventStream(daemon, last_event_id)
    try:
        yield stream
    finally:
        stream.close()


def receipt_states(events: list[dict[str, Any]], receipt_id: int) -> list[str]:
    return [e["data"]["print_state"] for e in events
            if e["event"] == "receipt" and e["data"].get("receipt_id") == receipt_id]


#: A receipt's print states on the stream: queued first, or, handed straight to the idle
#: printer's spooler, sending from its first event.
ACCEPTED_THEN_PRINTED = (["queued", "sending", "printed"], ["sending", "printed"])


def printed(receipt_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e["event"] == "receipt" and e["data"].get("receipt_id") == receipt_id
                      and e["data"].get("print_state") == "printed")


def test_receipt_events_arrive_in_order_and_resume_from_last_event_id(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    with event_stream(daemon) as stream:
        first = daemon.submit({"document": sample_document("SSE-1")})
        seen = stream.until(printed(first["id"]))
    assert receipt_states(seen, first["id"]) in ACCEPTED_THEN_PRINTED
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    done = [e for e in seen if e["data"].get("receipt_id") == first["id"]][-1]
    assert done["data"]["state"] == "printed" and done["data"]["printer"] == "front"
    last_id = seen[-1]["id"]

    # While nobody listens, another receipt prints; a client resuming from the last id it
    # saw gets exactly what it missed, in order, then live events.
    second = daemon.submit({"document": sample_document("SSE-2")})
    daemon.wait_printed(second["id"])
    with event_stream(daemon, last_event_id=last_id) as stream:
        missed = stream.until(printed(second["id"]), timeout=5)
        assert all(e["id"] > last_id for e in missed)
        assert missed[0]["id"] == last_id + 1
        assert receipt_states(missed, second["id"]) in ACCEPTED_THEN_PRINTED
        assert receipt_states(missed, first["id"]) == []
        third = daemon.submit({"text": "live\n"})
        live = stream.until(printed(third["id"]))
    assert receipt_states(live, third["id"]) in ACCEPTED_THEN_PRINTED
    assert live[0]["id"] > missed[-1]["id"]

    # Resuming from the newest id gives nothing old, just live events.
    with event_stream(daemon, last_event_id=live[-1]["id"]) as stream:
        fourth = daemon.submit({"text": "after\n"})
        after = stream.until(printed(fourth["id"]))
    assert {e["data"].get("receipt_id") for e in after if e["event"] == "receipt"} == {
        fourth["id"]}

    # An id this run never issued tells nothing of what the client saw of this run: it gets
    # everything still kept, oldest first, and no event twice.
    with event_stream(daemon, last_event_id=after[-1]["id"] + 10**9) as stream:
        replay = stream.until(printed(fourth["id"]), timeout=5)
    assert replay[0]["id"] == ids[0] or replay[0]["id"] < ids[0]
    assert receipt_states(replay, first["id"]) == receipt_states(seen, first["id"])
    assert [e["id"] for e in replay] == sorted({e["id"] for e in replay})


def test_event_ids_go_on_across_a_restart_so_a_resume_misses_nothing(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    """A client that saw events of the last run reconnects after a restart: every id of the
    new run is above the ones it saw, so it gets all of the new run's events. Ids that started
    at 1 again made it skip as many of them as it had seen before."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    with event_stream(daemon) as stream:
        for n in range(3):
            receipt = daemon.submit({"text": f"before the restart {n}\n"})
            seen = stream.until(printed(receipt["id"]))
    last_seen = seen[-1]["id"]
    daemon.restart()
    daemon.wait_state("online")
    after = daemon.submit({"text": "after the restart\n"})
    daemon.wait_printed(after["id"])
    with event_stream(daemon, last_event_id=last_seen) as stream:
        missed = stream.until(printed(after["id"]), timeout=5)
    assert all(e["id"] > last_seen for e in missed)
    assert receipt_states(missed, after["id"]) in ACCEPTED_THEN_PRINTED
    states = [e["data"]["state"] for e in missed if e["event"] == "printer"]
    assert "online" in states, missed  # the new run's first printer event is not skipped


def test_a_last_event_id_that_is_not_ours_is_a_400_not_a_500(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    pos = daemon.clients["pos"]
    # "²" (sent as Latin-1, as HTTP headers are read) is a digit to str.isdigit but not to
    # int(); 4,300 digits is past int()'s limit.
    for value in ("\u00b2".encode("latin-1"), b"9" * 4300, b"-1", b"1.5", b"0x10", b"1" * 20):
        with pos.stream("GET", "/v1/events", headers={"Last-Event-ID": value}) as r:
            status = r.status_code
            body = r.read() if status != 200 else b"(a stream)"
        assert status == 400, (value[:20], status, body[:200])
        assert json.loads(body)["error"]["code"] == "invalid_last_event_id", body
    with event_stream(daemon, last_event_id=0) as stream:  # still a stream after all that
        receipt = daemon.submit({"text": "fine\n"})
        stream.until(printed(receipt["id"]))


def test_waiting_event_while_the_printer_is_out_of_paper(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    with event_stream(daemon) as stream:
        emulator.inject("paper_out")
        stream.until(lambda e: e["event"] == "printer" and e["data"]["state"] == "paper_out")
        receipt = daemon.submit({"document": sample_document("WAIT-1")})
        seen = stream.until(lambda e: e["event"] == "waiting")
        waiting = seen[-1]["data"]
        assert waiting["receipt_id"] == receipt["id"]
        assert waiting["printer"] == "front" and waiting["state"] == "queued"
        assert waiting["printer_state"] == "paper_out"
        assert waiting["category"] == "consumable"
        assert waiting["hint"]["en"] and waiting["hint"]["zh"]
        # once per receipt and fault, not once per spooler pass
        second = daemon.submit({"text": "second waiting\n"})
        more = stream.until(lambda e: e["event"] == "waiting")
        assert more[-1]["data"]["receipt_id"] == second["id"]
        emulator.clear("paper_out")
        rest = stream.until(printed(second["id"]))
    waits = [e for e in more + rest if e["event"] == "waiting"]
    assert [w["data"]["receipt_id"] for w in waits] == [second["id"]]
    assert receipt_states(rest, receipt["id"])[-1] == "printed"
