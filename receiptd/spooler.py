"""One worker per printer: take the oldest print, wait out faults, send, confirm, requeue.

A print is ``printed`` only when the printer hands back the process ID sent after its last
byte (or, on printers without process IDs, when the status stays clean for the time the paper
needs — recorded as the weaker ``status`` confirmation). Anything that cuts a print short after
its first byte — a fault, a dropped link, a printer reset, no confirmation — makes it *in
doubt*: the journal requeues it in the same transaction, and it is printed again in full under
a visible ``REPRINT`` marker. Nothing sent is ever marked printed without proof.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from . import protocol
from .document import Content
from .errors import Conflict, JournalUnavailable, LinkError, LinkTimeout, ReceiptdError
from .events import EventBus
from .journal import Journal, Print, Receipt
from .printer import PrinterSession
from .profiles import Profile
from .render import copy_marker, interrupted_marker, paper_length_mm, render
from .waiting import WaitingNotices

log = structlog.get_logger("receiptd.spooler")

CHUNK = 1024  # small enough that a fault stops us within one chunk of print data


@dataclass
class SpoolSettings:
    confirm_timeout_s: float = 20.0
    slowest_mm_per_s: float = 20.0  # generous: a printer slowed by heat or a weak supply
    slowest_bytes_per_s: float = 960.0  # 9600 baud serial
    status_confirm_mm_per_s: float = 100.0


@dataclass(frozen=True)
class Outcome:
    printed: bool
    reason: str
    confirmation: str | None = None


class Spooler:
    def __init__(
        self,
        name: str,
        session: PrinterSession,
        journal_factory: Callable[[], Journal],
        profile: Profile,
        bus: EventBus,
        *,
        settings: SpoolSettings | None = None,
        on_beat: Callable[[], None] | None = None,
        on_outcome: Callable[[Print, Outcome, float], None] | None = None,
    ) -> None:
        self.name = name
        self.session = session
        self.profile = profile
        self.settings = settings or SpoolSettings()
        self._journal_factory = journal_factory
        self._bus = bus
        self._on_beat = on_beat or (lambda: None)
        self._on_outcome = on_outcome or (lambda p, o, s: None)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._log = log.bind(printer=name)
        self._waiting = WaitingNotices(name, bus)
        self.busy = False

    def wake(self) -> None:
        """New work was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the print in hand (its confirmation included), then return."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        journal = self._journal_factory()
        try:
            while not self._stop.is_set():
                self._on_beat()
                try:
                    self._step(journal)
                except JournalUnavailable as exc:
                    self._log.error("journal_unavailable", error=str(exc))
                    self._stop.wait(1.0)
        finally:
            journal.close()

    def _step(self, journal: Journal) -> None:
        job = journal.next_print(self.name)
        if job is None:
            self._wake.wait(0.5)
            self._wake.clear()
            return
        if not self.session.wait_ready(0.5):
            self._waiting.update(journal, self.session.state)  # tell who waits, and why
            return
        self._waiting.update(journal, self.session.state)
        self.busy = True
        try:
            self._print(journal, job)
        finally:
            self.busy = False

    # ------------------------------------------------------------------ one print

    def _print(self, journal: Journal, job: Print) -> None:
        receipt = journal.get_receipt(job.receipt_id)
        data = self._bytes_for(receipt, job)
        pid = protocol.encode_pid(job.id)
        generation = self.session.generation
        log_ = self._log.bind(receipt=receipt.id, print_id=job.id, kind=job.kind)
        try:
            job = journal.start_print(job.id)
        except Conflict:
            return  # cancelled between take and start
        self._publish(journal, receipt.id, job)
        started = time.monotonic()
        # ESC @ in the body may reset ASB on some models: re-arm it before the marker.
        sent = self._send(data + protocol.enable_asb() + protocol.process_id(pid), generation)
        if sent.reason == "nothing sent":
            journal.unstart_print(job.id, reason="link failed before the first byte")
            log_.info("print_not_started")
            self._publish(journal, receipt.id, journal.get_print(job.id))
            return
        outcome = sent if sent.reason else self._confirm(
            pid, generation, len(data), self._paper_mm(receipt)
        )
        elapsed = time.monotonic() - started
        if outcome.printed:
            done = journal.finish_print(job.id, confirmation=outcome.confirmation or "process_id")
            log_.info("print_confirmed", confirmation=outcome.confirmation,
                      seconds=round(elapsed, 3))
            self._publish(journal, receipt.id, done)
        else:
            if self.session.generation == generation:
                # Same connection, printer faulted: throw away the rest of this slip so it
                # does not come out after the refill; the full marked reprint follows.
                self.session.clear_buffers()
            retry = journal.interrupt_print(job.id, reason=f"interrupted: {outcome.reason}")
            log_.warning("print_interrupted", reason=outcome.reason, retry=retry.id)
            self._publish(journal, receipt.id, journal.get_print(job.id))
        self._on_outcome(job, outcome, elapsed)

    def _send(self, payload: bytes, generation: int) -> Outcome:
        """Write in chunks, stopping at the first sign of trouble. ``reason`` empty = all sent."""
        with self.session.print_stream():
            return self._send_chunks(payload, generation)

    def _send_chunks(self, payload: bytes, generation: int) -> Outcome:
        sent = 0
        for start in range(0, len(payload), CHUNK):
            if self.session.generation != generation:
                return self._cut_short(sent, "printer reset or link lost")
            if not self.session.is_ready():
                return self._cut_short(sent, f"fault:{self.session.state.value}")
            chunk = payload[start : start + CHUNK]
            try:
                self.session.write(chunk)
            except LinkTimeout as exc:
                return self._cut_short(sent + exc.written, "write timed out")
            except LinkError as exc:
                return self._cut_short(sent, f"link error: {exc}")
            sent += len(chunk)
        return Outcome(printed=False, reason="")

    @staticmethod
    def _cut_short(sent: int, reason: str) -> Outcome:
        return Outcome(printed=False, reason=reason if sent else "nothing sent")

    def _confirm(self, pid: str, generation: int, size: int, paper_mm: float) -> Outcome:
        s = self.settings
        if self.session.supports_process_id():
            timeout = (
                s.confirm_timeout_s + paper_mm / s.slowest_mm_per_s + size / s.slowest_bytes_per_s
            )
            result = self.session.wait_process_id(pid, generation, timeout)
            if result == "confirmed":
                return Outcome(printed=True, reason="confirmed", confirmation="process_id")
            return Outcome(printed=False, reason=result)
        # Weaker: the printer cannot hand IDs back. First a status reply to a query sent after
        # the last byte proves the printer has read it all (a slow serial line or a full buffer
        # can hold data for seconds); then give the paper the time it needs, and accept the
        # print if the printer stayed connected and fault-free throughout.
        taken = self.session.wait_taken(
            self.session.data_mark(), generation, s.confirm_timeout_s + size / s.slowest_bytes_per_s
        )
        if taken != "taken":
            return Outcome(printed=False, reason=taken)
        wait = 0.5 + paper_mm / s.status_confirm_mm_per_s
        result = self.session.wait_process_id("\x00never", generation, wait)
        if result == "timeout" and self.session.is_ready():
            return Outcome(printed=True, reason="status clean", confirmation="status")
        return Outcome(printed=False, reason=result)

    # ------------------------------------------------------------------ rendering

    def _bytes_for(self, receipt: Receipt, job: Print) -> bytes:
        if job.kind == "original" and job.attempt == 1 and receipt.profile == self.profile.name:
            return receipt.rendered  # exactly what was checked and journaled at submission
        marker = self._marker(receipt, job)
        return render(Content.model_validate_json(receipt.content), self.profile, marker=marker)

    @staticmethod
    def _marker(receipt: Receipt, job: Print) -> str | None:
        parts = []
        if job.copy_number is not None:
            parts.append(copy_marker(job.copy_number, _parse_time(receipt.printed_at)))
        if job.kind == "interrupted_retry":
            first = receipt.prints[0].sent_at if receipt.prints else None
            parts.append(interrupted_marker(job.attempt, _parse_time(first)))
        return "\n".join(parts) or None

    def _paper_mm(self, receipt: Receipt) -> float:
        if receipt.paper_mm is not None:
            return float(receipt.paper_mm)
        try:
            return paper_length_mm(Content.model_validate_json(receipt.content), self.profile)
        except ReceiptdError:
            return 300.0

    def _publish(self, journal: Journal, receipt_id: int, job: Print) -> None:
        receipt = journal.get_receipt(receipt_id)
        self._bus.publish("receipt", {
            "receipt_id": receipt.id, "printer": self.name, "state": receipt.state,
            "print_id": job.id, "print_kind": job.kind, "print_state": job.state,
            "outcome": job.outcome,
        })


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
