"""The API's journal writer: one thread that commits the submissions the event loop prepared.

The event loop checks and renders a receipt itself (CPU work that would hold the interpreter
lock in any thread) and hands only the durable commit to this thread, which waits out the
fsync while the loop goes on reading the next requests. Whatever arrived meanwhile is
committed together, in one transaction (``journal.groupcommit``), alongside any other door's
submissions waiting at that moment; each caller is answered as soon as its batch is on disk.

One thread, started on first use, with its own journal connection (``Backend.journal``).
A submission that is alone (the caller says no other write is under way, and the thread has
nothing in hand) is committed on the loop itself: handing it over and back would cost two
thread switches and buy nothing, as there is nothing to share the commit with. The loop then
waits for that one fsync, as the submitter does anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence

from receiptd.intake.accept import Prepared, announce, claim, hand_over, handed, wanted_wake
from receiptd.intake.backend import Backend
from receiptd.journal import Receipt
from receiptd.spool.handoff import Offer

Outcome = tuple[Receipt, bool] | Exception
_Job = tuple[Prepared, Offer | None, "asyncio.Future[tuple[Receipt, bool]]"]

#: Most submissions committed in one transaction (a burst beyond waits for the next one).
MAX_BATCH = 64


class JournalWriter:
    """Commits prepared receipts for the event loop; see the module docstring."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._in_hand = 0  # handed to the thread, not settled yet (event loop only)

    async def commit(self, prepared: Prepared, *, alone: bool = False) -> tuple[Receipt, bool]:
        """Journal ``prepared`` durably; (receipt, created) once its commit is on disk.
        ``alone``: no other write is under way, so it may be committed right here. A
        receipt its printer's idle spooler takes (``claim``) is handed over the moment its
        commit is on disk, before the answer."""
        prepared, offer = claim(self._backend, prepared)
        if alone and not self._in_hand:
            outcome = self._backend.journal().receipts.submit_many([prepared.new])[0]
            hand_over(self._backend, prepared, offer, outcome)
            self._announce(prepared, outcome)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        future: asyncio.Future[tuple[Receipt, bool]] = \
            asyncio.get_running_loop().create_future()
        if self._thread is None:
            self._start()
        self._in_hand += 1
        self._jobs.put((prepared, offer, future))
        return await future

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="journal-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._jobs.get()]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                outcomes: Sequence[Outcome] = self._backend.journal().receipts.submit_many(
                    [prepared.new for prepared, _, _ in jobs])
            except Exception as exc:  # no journal connection at all: every caller hears it
                outcomes = [exc] * len(jobs)
            for (prepared, offer, _), outcome in zip(jobs, outcomes, strict=True):
                hand_over(self._backend, prepared, offer, outcome)
            # One wake-up of each waiting loop for the whole batch.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Outcome]]] = {}
            for job, outcome in zip(jobs, outcomes, strict=True):
                by_loop.setdefault(job[2].get_loop(), []).append((job, outcome))
            for loop, settled in by_loop.items():
                # A closed loop: nobody waits any more (the daemon is stopping; its spooler
                # finds the receipt queued when it starts again).
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._settle, settled)

    def _settle(self, settled: list[tuple[_Job, Outcome]]) -> None:
        """On the loop: answer each waiting request, announce what was created, and wake the
        spoolers after the answers (the callbacks queued here run after the requests' own
        continuations, which write the 202s). Announced whether or not its request still
        waits: the receipt is journaled either way."""
        self._in_hand -= len(settled)
        for (prepared, _, future), outcome in settled:
            if not future.done():
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            self._announce(prepared, outcome)

    def _announce(self, prepared: Prepared, outcome: Outcome) -> None:
        """On the loop: a receipt just created goes out on the event stream, and its spooler
        is woken once the loop has run what is ready now (the request's own continuation,
        which writes its answer)."""
        if isinstance(outcome, Exception):
            return
        receipt, created = outcome
        if created and not handed(receipt):  # a handed one was announced at its commit
            announce(self._backend, prepared, receipt, wake=False)
            if wanted_wake(prepared):
                asyncio.get_running_loop().call_soon(self._backend.wake, prepared.printer)
