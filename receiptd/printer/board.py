"""What is known about one printer, behind one lock: its state, and the waits on it.

The session thread writes here what the printer says; spooler and API threads read it and wait
on it. Every state change goes through ``change()``, whichever thread noticed it: the change is
numbered and queued on ``changes`` under the lock, so the queue holds the changes in the order
the state took them. Whoever reports them (journal, events, metrics) drains that one queue.

Process IDs are issued here too, because a returned ID is proof that paper came out only if
nobody but the daemon could have made the printer send it. A receipt's own bytes could (a
filter bypass in raw input, a printer that reads a command's data as commands), so an ID
cannot be guessed (four random characters, never repeated among those still remembered), a
returned ID counts only if it was issued before it came back, and the returned IDs are
forgotten whenever a new connection or a printer reset starts: a print in flight then is in
doubt anyway, and nothing sent before can confirm what is sent after. An ID that comes back
without having been issued (a forgery, a garbled reply, or one from before a restart) confirms
nothing; it is counted in ``counters["unissued_process_ids"]``, which the health detail shows.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection

from receiptd import protocol
from receiptd.printer.states import (
    FAULT_STATES,
    READY_STATES,
    PrinterState,
    Snapshot,
    Transition,
    active_flags,
)

# Issued process IDs remembered: far more than a send window holds (32 prints), so a late reply
# for an earlier print on this connection is still known as ours.
ISSUED_KEPT = 1024


#: The characters of a print's process ID: every one a process ID may hold but the space.
_PRINT_PID_CHARS = protocol.PID_CHARS.replace(" ", "")


class StateBoard:
    """One printer's state. Attributes are read and written under ``cond`` only."""

    def __init__(self, printer: str, *, last_seq: int = 0) -> None:
        self.printer = printer
        self.cond = threading.Condition()
        self.changes: queue.SimpleQueue[Transition] = queue.SimpleQueue()
        self.state = PrinterState.UNKNOWN
        self.seq = last_seq  # of the newest change (numbering goes on across restarts)
        self.since = time.time()
        self.cause = "starting"
        self.flags = protocol.StatusFlags()
        self.asb_seen = False
        self.connected = False
        self.generation = 0  # +1 per connection and per printer reset: in-flight prints are void
        # Process IDs issued (newest last, with their print) and those the printer handed
        # back on this connection; see the module docstring.
        self.issued: OrderedDict[str, int] = OrderedDict()
        self.pids: deque[str] = deque(maxlen=64)
        self.confirmation = "unknown"  # "process_id" | "status" | "unknown"
        self.identity: dict[str, str] = {}
        self.last_error: str | None = None
        self.ready_mono = 0.0  # when it last became ready (monotonic)
        self.counters = {"reconnects": 0, "power_on": 0, "etb_jump": 0, "garbage_bytes": 0,
                         "unissued_process_ids": 0}
        self.maintenance: dict[str, int] = {}
        self.maintenance_at: float | None = None
        self.stopping = False
        self._watchers: list[threading.Event] = []  # set when readiness may have changed

    def watch(self, event: threading.Event) -> None:
        """Set ``event`` whenever the printer may have become ready or stopped being so (its
        state, its connection or how it confirms changed): a spooler asleep with nothing
        queued learns of it without polling."""
        with self.cond:
            self._watchers.append(event)

    def _changed(self) -> None:
        self.cond.notify_all()
        for event in self._watchers:
            event.set()

    # ------------------------------------------------------------------ the one door

    def change(self, state: PrinterState, cause: str) -> Transition | None:
        """Move to ``state``; the change is numbered and queued. None if already there."""
        with self.cond:
            if self.state == state:
                return None
            previous, self.state = self.state, state
            self.since = time.time()
            self.cause = cause
            if state in READY_STATES:
                self.ready_mono = time.monotonic()
            self.seq += 1
            transition = Transition(self.printer, self.seq, state, previous, cause, self.since,
                                    tuple(active_flags(self.flags)))
            self.changes.put(transition)
            self._changed()
            return transition

    def new_generation(self, *, connected: bool | None = None, counter: str | None = None) -> bool:
        """Void what was in flight (new connection, link lost, printer reset); returns whether
        the link was up before."""
        with self.cond:
            was = self.connected
            if connected is not None:
                self.connected = connected
            self.generation += 1
            self.pids.clear()  # a reply from before cannot confirm a print sent after
            if counter:
                self.counters[counter] += 1
            self._changed()
            return was

    def confirm_by(self, how: str) -> None:
        """How prints get confirmed on this connection: "process_id", "status" or "unknown"."""
        with self.cond:
            self.confirmation = how
            self._changed()

    def issue_process_id(self, print_id: int) -> str:
        """A fresh process ID for ``print_id``: random, without a space (the session's own
        IDs, the probe's and the flow marks', end in one), and unlike every ID still
        remembered (issued or returned), so that no reply meant for another can match."""
        with self.cond:
            while True:
                pid = "".join(secrets.choice(_PRINT_PID_CHARS)
                              for _ in range(protocol.PID_LENGTH))
                if pid not in self.issued and pid not in self.pids:
                    break
            self.issued[pid] = print_id
            while len(self.issued) > ISSUED_KEPT:
                self.issued.popitem(last=False)
            return pid

    def process_id_returned(self, pid: str) -> None:
        with self.cond:
            if pid in self.issued:
                self.pids.append(pid)
                self.cond.notify_all()
            else:
                self.counters["unissued_process_ids"] += 1

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    # ------------------------------------------------------------------ reading and waiting

    def snapshot(self, url: str, kind: str) -> Snapshot:
        with self.cond:
            return Snapshot(
                name=self.printer, url=url, kind=kind, state=self.state, since=self.since,
                cause=self.cause, flags=active_flags(self.flags), connected=self.connected,
                confirmation=self.confirmation, identity=dict(self.identity),
                last_error=self.last_error, counters=dict(self.counters),
                maintenance=dict(self.maintenance), maintenance_at=self.maintenance_at,
            )

    def is_ready(self) -> bool:
        with self.cond:
            return self.connected and self.state in READY_STATES

    def wait_ready(self, timeout: float) -> bool:
        """Block until the printer can print and we know how prints get confirmed."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (self.connected and self.state in READY_STATES
                       and self.confirmation != "unknown"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.stopping:
                    return False
                self.cond.wait(remaining)
            return True

    def current_generation(self) -> int:
        with self.cond:
            return self.generation

    def supports_process_id(self) -> bool:
        with self.cond:
            return self.confirmation == "process_id"

    def wait_process_ids(self, pids: Collection[str], generation: int, timeout: float) -> str:
        """Wait for the first of ``pids`` to come back from the printer: ``"confirmed"``, or
        why none can come any more (as ``wait_until``)."""
        wanted = frozenset(pids)
        return self.wait_until(lambda: not wanted.isdisjoint(self.pids), "confirmed",
                               generation, timeout)

    def hold_steady(self, generation: int, timeout: float) -> str:
        """Watch the printer for ``timeout``: ``"timeout"`` if it stayed connected and
        fault-free all along, else why not (as ``wait_until``)."""
        return self.wait_until(lambda: False, "", generation, timeout)

    def returned_process_ids(self, pids: Collection[str]) -> set[str]:
        """Which of ``pids`` the printer has handed back on this connection (the newest 64
        replies are kept)."""
        with self.cond:
            return set(pids).intersection(self.pids)

    def wait_until(self, done: Callable[[], bool], success: str, generation: int,
                   timeout: float) -> str:
        """Wait until ``done()`` (checked under the lock), or until it can no longer come true:
        ``success``, or ``"reset"`` (connection or printer reset since ``generation``),
        ``"fault:<state>"``, ``"stopping"``, ``"timeout"``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if done():
                    return success
                if self.generation != generation:
                    return "reset"
                if self.state in FAULT_STATES:
                    return f"fault:{self.state.value}"
                if self.stopping:
                    return "stopping"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                self.cond.wait(min(remaining, 0.5))
