"""One worker per printer: take the oldest print, wait out faults, send, confirm, requeue.

A print is ``printed`` only when the printer hands back the process ID sent after its last
byte (or, on printers without process IDs, when the status stays clean for the time the paper
needs — recorded as the weaker ``status`` confirmation). Anything that cuts a print short after
its first byte — a fault, a dropped link, a printer reset, no confirmation — makes it *in
doubt*: the journal requeues it in the same transaction, and it is printed again in full under
a visible ``REPRINT`` marker. Nothing sent is ever marked printed without proof.

With a send window (``window_prints`` > 1, process-ID printers only) the next prints go out
while earlier ones await their IDs; an ID confirms its print and every print sent before it,
and anything that voids one print in flight voids all of them (see ``sendwindow``).

While the window is full, the next queued print is made ready (read and rendered), so that
when an ID comes back the confirmations and the next print's ``sending`` share one commit
and its first byte follows at once: the printer does not stand idle for a second fsync and a
rendering between two receipts. It goes only if it is still the printer's next print, on the
same connection, with the printer ready; otherwise it is taken afresh.

With nothing to do and the printer ready, the spooler offers to take the next receipt straight
from the door (``handoff``): journaled ``sending`` in the submission's own commit, it is sent
without a second one.

While a print's bytes go out, a progress mark (a status query) goes between two of its
commands every few hundred bytes, so a printer working through a long receipt keeps proving it
is alive (``printer.liveness``).

A failure is confined to the one print it belongs to. A print that cannot be made from what
the journal holds is ``failed``, with the reason, and the next print goes; a print interrupted
``max_attempts`` times in a row is ``held`` for a person instead of looping. Anything else that
goes wrong in a step (never a receipt's fault) leaves the prints in flight in doubt: they are
requeued, marked, and the spooler carries on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from receiptd.errors import (
    Conflict,
    JournalCorrupt,
    JournalUnavailable,
    LinkError,
    LinkTimeout,
)
from receiptd.events import EventBus
from receiptd.journal import Journal, Print, Receipt
from receiptd.printer import PrinterSession
from receiptd.render.profiles import Profile
from receiptd.spool.handoff import Offer
from receiptd.spool.prepare import Prepared, Unprintable, pieces, prepare
from receiptd.spool.settings import Outcome, SpoolSettings
from receiptd.spool.stale import StaleHold
from receiptd.spool.waiting import WaitingNotices
from receiptd.spool.window import InFlight, SendWindow

__all__ = ["Outcome", "SpoolSettings", "Spooler"]

log = structlog.get_logger("receiptd.spooler")

WAIT_SLICE_S = 0.05  # while prints are in flight: how often to look for newly queued work
ERROR_PAUSE_S = 1.0  # after an unexpected error: do not spin on it


@dataclass(frozen=True)
class _Next:
    """The next print, made ready while the window was full (see the module docstring)."""

    job: Print  # as the journal had it: any change since makes it stale
    ready: Prepared
    generation: int  # the printer connection it was made for (a new one may bring a profile)


class Spooler:
    def __init__(
        self,
        name: str,
        session: PrinterSession,
        journal_factory: Callable[[], Journal],
        profile: Callable[[], Profile],
        bus: EventBus,
        *,
        settings: SpoolSettings | None = None,
        on_beat: Callable[[], None] | None = None,
        on_outcome: Callable[[Print, Outcome, float], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.session = session
        self.board = session.board  # what is known of the printer, and the waits on it
        self._profile = profile  # the printer's profile now (its identity may fill it in)
        self.settings = settings or SpoolSettings()
        self._journal_factory = journal_factory
        self._bus = bus
        self._on_beat = on_beat or (lambda: None)
        self._on_outcome = on_outcome or (lambda p, o, s: None)
        self._on_error = on_error or (lambda error: None)
        self._wake = threading.Event()
        self.board.watch(self._wake)  # idle: an offer opens (or closes) as readiness changes
        self._stop = threading.Event()
        self._log = log.bind(printer=name)
        self._waiting = WaitingNotices(name, bus)
        self._stale = StaleHold(name, self.settings.hold_after_s, bus)
        # Prints sent and awaiting their process IDs, in send order (see sendwindow.py).
        self._window = SendWindow(self.settings.window_prints, self.settings.window_bytes)
        self.busy = False  # True while a print's bytes go out (the session's queries wait)
        self._published_sending = False  # the print going out was announced as sending
        self._next: _Next | None = None  # made ready while the window was full
        #: Open while idle and ready: the door's way to hand the next receipt over (handoff).
        self.offer: Offer | None = None

    def is_idle(self) -> bool:
        """True while no print's bytes are going out (``busy`` is set before the first)."""
        return not self.busy

    def open_offer(self) -> Offer | None:
        """The offer to take the next receipt straight from the door (``handoff``), if one
        is open and the printer is ready on the connection it was made on now: a door that
        sees a fault never hands a receipt over into it."""
        offer = self.offer
        if (offer is None or not self.board.is_ready()
                or self.board.current_generation() != offer.generation):
            return None
        return offer

    def wake(self) -> None:
        """New work was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Take no new print; confirm (or requeue) the prints in flight, then return."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        journal = self._journal_factory()
        try:
            # On stop, the prints in flight are still confirmed (or requeued) before leaving.
            while not (self._stop.is_set() and not self._window):
                self._on_beat()
                try:
                    self._step(journal)
                except JournalUnavailable as exc:
                    self._log.error("journal_unavailable", error=str(exc))
                    self._stop.wait(1.0)
                except Exception as exc:  # never the printer's end: see _after_error
                    self._after_error(journal, exc)
        finally:
            journal.close()

    def _after_error(self, journal: Journal, exc: Exception) -> None:
        """Something went wrong outside any one receipt (a bug, a damaged journal page): the
        prints in flight are in doubt. Requeue them marked (or hold them, past the limit),
        throw away what the printer holds of them, pause, and carry on."""
        error = f"{type(exc).__name__}: {exc}"
        self._log.exception("spooler_error")
        self._on_error(error)  # the printer's health shows it
        self.busy = False
        self._window = SendWindow(self.settings.window_prints, self.settings.window_bytes)
        self._next = None
        try:
            if self.board.is_ready():
                self.session.clear_buffers()
            for retry in journal.receipts.recover_in_doubt(
                printer=self.name, reason=f"spooler error: {error}",
                max_attempts={self.name: self.settings.max_attempts},
            ):
                self._log.warning("print_in_doubt_requeued", receipt=retry.receipt_id,
                                  retry=retry.id, state=retry.state)
                self._publish(journal, retry.receipt_id, retry)
        except Exception:
            self._log.exception("spooler_error_recovery_failed")
        self._stop.wait(ERROR_PAUSE_S)

    def _step(self, journal: Journal) -> None:
        if self._window and (self._stop.is_set() or self._window.full):
            self._await_window(journal, or_new_work=False, chain=not self._stop.is_set())
            return
        self._wake.clear()
        job = journal.receipts.next_print(self.name)
        if job is None:
            self._next = None
            if self._window:
                self._await_window(journal, or_new_work=True)
            else:
                self._idle(journal)
            return
        if not self._ready_to_send(journal):
            return
        self._print(journal, job, self._made_ready(job))
        if self._window:
            self._harvest(journal)  # replies that came while this print went out

    def _idle(self, journal: Journal) -> None:
        """Nothing queued: sleep until woken, offering (printer ready) to take the next
        receipt straight from the door; send it if one was handed over."""
        offer = None
        if not self._stop.is_set() and self.board.wait_ready(0):
            offer = self.offer = Offer(self.board.current_generation())
        self._wake.wait(self.settings.idle_wait_s)
        if offer is None:
            return
        self.offer = None
        receipt = offer.withdraw(beat=self._on_beat)  # a claim under way: its commit
        if receipt is not None:
            self._send_handed(journal, receipt, offer.generation)

    def _send_handed(self, journal: Journal, receipt: Receipt, generation: int) -> None:
        """A receipt journaled ``sending`` for this spooler by its door: send it as if
        ``start_print`` had just committed it, or put it back (nothing was sent) if the
        printer is no longer ready on the connection the offer was made on."""
        job = receipt.prints[0]
        if (self._stop.is_set() or self.board.current_generation() != generation
                or not self.board.wait_ready(0)):
            self._unstart(journal, receipt.id, job, "printer not ready when handed over")
            return
        ready = self._prepare(journal, job, receipt)
        if ready is None:
            return
        self._print(journal, job, ready, handed=True)
        if self._window:
            self._harvest(journal)

    def _ready_to_send(self, journal: Journal) -> bool:
        """May the next print go out now? With prints in flight, only on the same connection
        to a ready printer that confirms by process ID; otherwise the window settles first."""
        if not self._window:
            ready = self.board.wait_ready(0.5)
            self._waiting.update(journal, self.session.state)  # tell who waits, and why
            # The first take after a fault decides on stale prints (spool/stale.py).
            return self._stale.may_send(journal, ready, self.session.state, self._publish)
        if (
            self.board.current_generation() == self._window.generation
            and self.board.wait_ready(0)
            and self.board.supports_process_id()
        ):
            return True
        self._await_window(journal, or_new_work=False)  # sees the fault or reset, requeues
        return False

    # ------------------------------------------------------------------ one print

    def _prepare(self, journal: Journal, job: Print,
                 receipt: Receipt | None = None) -> Prepared | None:
        """The print made ready (from ``receipt`` when in hand), or None: it cannot be made
        and has failed (with the reason, in the journal, on the event stream and in the
        health view). A journal that cannot be read is not the receipt's fault: that
        propagates."""
        try:
            if receipt is None:
                receipt = journal.receipts.get(job.receipt_id)
            return prepare(receipt, job, self._profile(), self._log)
        except (JournalUnavailable, JournalCorrupt):
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, Unprintable) else f"{type(exc).__name__}: {exc}"
            self._log.error("print_failed", receipt=job.receipt_id, print_id=job.id,
                            reason=reason, exc_info=True)
            try:
                failed = journal.receipts.fail_print(job.id, reason=reason)
            except Conflict:
                return None  # cancelled meanwhile
            self._publish(journal, job.receipt_id, failed)
            self._on_outcome(failed, Outcome(False, reason, result="failed"), 0.0)
            return None

    def _print(self, journal: Journal, job: Print, ready: Prepared | None = None,
               confirmed: Sequence[InFlight] = (), by: int | None = None,
               handed: bool = False) -> None:
        """Send ``job`` (``ready``: made ready beforehand). ``confirmed``: the oldest prints
        in flight, whose IDs came back (``by`` the newest's): finished in the commit that
        starts this one. ``handed``: journaled ``sending`` already, by the door (handoff).
        ``busy`` throughout."""
        self.busy = True
        try:
            self._print_busy(journal, job, ready, confirmed, by, handed)
        finally:
            self.busy = False

    def _print_busy(self, journal: Journal, job: Print, ready: Prepared | None,
                    confirmed: Sequence[InFlight], by: int | None, handed: bool) -> None:
        if ready is None:
            ready = self._prepare(journal, job)
            if ready is None:
                return
        receipt, data = ready.receipt, ready.data
        pid = self.board.issue_process_id(job.id)
        # What proves this print printed ends it (ESC/POS: ASB re-armed and the process ID).
        payload = data + self.session.print_trailer(pid)
        if not self._window.has_room(len(payload), confirmed=len(confirmed)):
            self._finish_confirmed(journal, confirmed, by)
            self._await_window(journal, or_new_work=False)  # the job stays queued
            return
        # Prints in flight and this one must share a connection: a reset voids them together.
        generation = self._window.generation if self._window else self.board.current_generation()
        log_ = self._log.bind(receipt=receipt.id, print_id=job.id, kind=job.kind)
        done: list[Print] = []
        at = 0.0
        if confirmed:
            done, started_job = journal.receipts.finish_then_start(
                [(f.job.id, "process_id") for f in confirmed], job.id)
            at = time.monotonic()
            for _ in confirmed:
                self._window.pop_oldest()  # the journal has them
            if started_job is None:  # cancelled meanwhile
                self._tell_confirmed(journal, confirmed, done, by, at)
                return
            job = started_job
        elif not handed:
            try:
                job = journal.receipts.start_print(job.id)
            except Conflict:
                return  # cancelled between take and start

        def announce() -> None:
            if confirmed:  # said first: they printed before this one started
                self._tell_confirmed(journal, confirmed, done, by, at, guarded=True)
            if not handed:  # the door announced it sending, at its commit
                self._announce_sending(journal, receipt.id, job)

        started = time.monotonic()
        # "sending" goes out on the event stream once the first bytes are on their way: the
        # journal has had it since start_print; the printer should not wait for the stream.
        sent = self._send(payload, generation, ready.boundaries, on_first=announce)
        if not self._published_sending:  # nothing went out: said here, still before the rest
            if confirmed:
                self._tell_confirmed(journal, confirmed, done, by, at)
            if not handed:
                self._publish(journal, receipt.id, job)
        if not sent.reason:
            try:  # a Star printer's ETB goes out now, numbered among the session's own
                self.session.print_sent(pid)
            except LinkError as exc:
                sent = Outcome(printed=False, reason=f"link error: {exc}")
        if sent.reason == "nothing sent":
            self._unstart(journal, receipt.id, job, "link failed before the first byte")
            return
        paper_mm = ready.paper_mm
        flight = InFlight(job=job, pid=pid, size=len(payload), paper_mm=paper_mm,
                          started=started, deadline=self._deadline(len(payload), paper_mm),
                          log=log_)
        if sent.reason:
            # Cut short: in doubt, and so is every print in flight before it.
            self._window.add(flight, generation)
            self._fail_window(journal, sent.reason)
        elif self.board.supports_process_id():
            self._window.add(flight, generation)
            log_.debug("print_sent", in_flight=len(self._window),
                       in_flight_bytes=self._window.bytes)
        else:
            self._confirm_by_status(journal, flight, generation)

    def _unstart(self, journal: Journal, receipt_id: int, job: Print, reason: str) -> None:
        """Back to the queue: provably nothing of it was sent."""
        back = journal.receipts.unstart_print(job.id, reason=reason)
        self._log.info("print_not_started", receipt=receipt_id, print_id=job.id, kind=job.kind,
                       reason=reason)
        self._publish(journal, receipt_id, back)

    def _confirm_by_status(self, journal: Journal, flight: InFlight, generation: int) -> None:
        """Printers without process IDs: one print at a time, confirmed by its status."""
        outcome = self._confirm(generation, flight.size, flight.paper_mm)
        if outcome.printed:
            self._finish(journal, flight, "status")
        else:
            if self.board.current_generation() == generation:
                self.session.clear_buffers()  # the rest of this slip must not come out later
            self._interrupt(journal, flight, outcome.reason)

    # ------------------------------------------------------------------ the window

    def _deadline(self, size: int, paper_mm: float) -> float:
        """When a print's ID is overdue: the base wait, plus the paper and the data of this
        print and of every print in flight before it (the printer works through them first)."""
        s = self.settings
        data = self._window.bytes + size
        paper = sum(f.paper_mm for f in self._window) + paper_mm
        return (time.monotonic() + s.confirm_timeout_s + paper / s.slowest_mm_per_s
                + data / s.slowest_bytes_per_s)

    def _await_window(self, journal: Journal, *, or_new_work: bool,
                      chain: bool = False) -> None:
        """Wait until the printer confirms a print in flight, or the window fails (fault,
        reset, overdue ID, session stopping), or — ``or_new_work`` — a print is queued.
        ``chain``: meanwhile make the next print ready, and send it on the confirmation."""
        w = self._window
        looked = False
        while w:
            if or_new_work and self._wake.is_set():
                return
            if chain and self._next is None and (not looked or self._wake.is_set()):
                looked = True
                self._make_next_ready(journal)
            self._on_beat()
            slice_s = min(WAIT_SLICE_S, max(0.0, w.oldest().deadline - time.monotonic()))
            result = self.board.wait_process_ids(w.pids(), w.generation, slice_s)
            if result == "confirmed":
                self._harvest(journal, chain=chain)
                return
            if result != "timeout" or time.monotonic() >= w.oldest().deadline:
                self._fail_window(journal, result)
                return

    def _harvest(self, journal: Journal, *, chain: bool = False) -> None:
        """Mark printed every print in flight up to the newest whose ID came back; with
        ``chain``, in one commit with the next print's start when it is ready to go."""
        returned = self.board.returned_process_ids(self._window.pids())
        count = self._window.confirmed_count(returned)
        if count == 0:
            return
        confirmed = list(self._window)[:count]
        by = confirmed[-1].job.id  # the print whose ID came back
        nxt = self._chainable(journal, count) if chain else None
        if nxt is None:
            self._finish_confirmed(journal, confirmed, by)
            return
        self._next = None
        self._print(journal, nxt.job, nxt.ready, confirmed=confirmed, by=by)

    def _finish_confirmed(self, journal: Journal, confirmed: Sequence[InFlight],
                          by: int | None) -> None:
        for flight in confirmed:
            self._finish(journal, flight, "process_id", by=by)
            self._window.pop_oldest()  # only once the journal has it

    # ------------------------------------------------------------------ the next print

    def _make_next_ready(self, journal: Journal) -> None:
        """While the window is full: read and render the printer's next print now."""
        self._wake.clear()
        job = journal.receipts.next_print(self.name)
        if job is None:
            return
        ready = self._prepare(journal, job)  # an unprintable one fails now, not later
        if ready is not None:
            self._next = _Next(job, ready, self.board.current_generation())

    def _made_ready(self, job: Print) -> Prepared | None:
        """What was made ready for ``job``, if it was and still holds (same print row, same
        connection); used once."""
        nxt, self._next = self._next, None
        if nxt is None or nxt.job != job or nxt.generation != self.board.current_generation():
            return None
        return nxt.ready

    def _chainable(self, journal: Journal, confirmed: int) -> _Next | None:
        """The print made ready, if it may go in the confirmations' commit: still the next
        print, same connection, printer ready, room in the window — what ``_step`` would
        check before sending it."""
        nxt = self._next
        if (
            nxt is None
            or self._stop.is_set()
            or nxt.generation != self.board.current_generation()
            or not self.board.wait_ready(0)
            or not self._window.has_room(len(nxt.ready.data), confirmed=confirmed)
            or journal.receipts.next_print(self.name) != nxt.job
        ):
            return None
        self._waiting.update(journal, self.session.state)
        if not self._stale.may_send(journal, True, self.session.state, self._publish):
            return None
        return nxt

    def _fail_window(self, journal: Journal, reason: str) -> None:
        """Every print in flight is in doubt: requeue each, in send order, for a full marked
        reprint — after confirming those whose IDs did come back meanwhile."""
        self._harvest(journal)
        if not self._window:
            return
        if self.board.current_generation() == self._window.generation:
            # Same connection, printer faulted: throw away what it still holds of these
            # prints so none comes out after the refill; the full marked reprints follow.
            self.session.clear_buffers()
        self._log.warning("window_failed", reason=reason, in_flight=len(self._window))
        while self._window:
            self._interrupt(journal, self._window.oldest(), reason)
            self._window.pop_oldest()

    def _finish(self, journal: Journal, flight: InFlight, confirmation: str,
                by: int | None = None) -> None:
        done = journal.receipts.finish_print(flight.job.id, confirmation=confirmation)
        self._confirmed(journal, flight, done, by, time.monotonic())

    def _confirmed(self, journal: Journal, flight: InFlight, done: Print, by: int | None,
                   at: float, *, guarded: bool = False) -> None:
        """Tell of a print the journal has as printed (``at``: when it committed);
        ``guarded``: while another print's bytes go out (see ``_announce_sending``)."""
        elapsed = at - flight.started
        confirmation = done.confirmation or "process_id"
        flight.log.info("print_confirmed", confirmation=confirmation, seconds=round(elapsed, 3),
                        by_print=by if by is not None else flight.job.id)
        if guarded:
            self._announce_sending(journal, flight.job.receipt_id, done)
        else:
            self._publish(journal, flight.job.receipt_id, done)
        self._on_outcome(flight.job, Outcome(True, "confirmed", confirmation), elapsed)

    def _tell_confirmed(self, journal: Journal, confirmed: Sequence[InFlight],
                        done: Sequence[Print], by: int | None, at: float, *,
                        guarded: bool = False) -> None:
        for flight, printed in zip(confirmed, done, strict=True):
            self._confirmed(journal, flight, printed, by, at, guarded=guarded)

    def _interrupt(self, journal: Journal, flight: InFlight, reason: str) -> None:
        # The retry keeps the print's own marker (a DELAYED receipt stays marked DELAYED).
        retry = journal.receipts.interrupt_print(flight.job.id, reason=f"interrupted: {reason}",
                                                 marker=flight.job.marker,
                                                 max_attempts=self.settings.max_attempts)
        self._publish(journal, flight.job.receipt_id, journal.receipts.get_print(flight.job.id))
        if retry.state == "held":
            # Interrupted attempt after attempt: waiting for a person beats feeding paper in
            # a loop while every receipt behind it waits.
            flight.log.error("print_held", reason=reason, retry=retry.id, attempt=retry.attempt)
            self._publish(journal, flight.job.receipt_id, retry)
        else:
            flight.log.warning("print_interrupted", reason=reason, retry=retry.id)
        self._on_outcome(flight.job, Outcome(False, reason, result=(
            "held" if retry.state == "held" else "interrupted")),
            time.monotonic() - flight.started)

    def _send(self, payload: bytes, generation: int, boundaries: Sequence[int],
              on_first: Callable[[], None]) -> Outcome:
        """Write in chunks, stopping at the first sign of trouble. ``reason`` empty = all sent.
        ``on_first`` runs once the first chunk is written."""
        self._published_sending = False
        with self.session.print_stream():
            return self._send_chunks(payload, generation, boundaries, on_first)

    def _send_chunks(self, payload: bytes, generation: int, boundaries: Sequence[int],
                     on_first: Callable[[], None]) -> Outcome:
        sent = 0
        paced = self.board.confirmation == "process_id"  # flow marks get answers (``flow``)
        for end, mark in pieces(len(payload), boundaries):
            if self.board.current_generation() != generation:
                return self._cut_short(sent, "printer reset or link lost")
            if not self.board.is_ready():
                return self._cut_short(sent, f"fault:{self.session.state.value}")
            room = self.session.wait_room(generation, self.settings.confirm_timeout_s) \
                if paced else "room"
            if room not in ("room", "timeout"):  # timeout: a mark lost; send on, unpaced
                return self._cut_short(sent, room)
            try:
                self.session.write(payload[sent:end])
                if not sent:
                    self._published_sending = True
                    on_first()
                sent = end
                if mark:  # between two commands: the printer answers once it has read this far
                    self.session.progress_mark()
                    if paced:  # ... and once it has printed this far
                        self.session.flow_mark()
            except LinkTimeout as exc:
                return self._cut_short(sent + exc.written, "write timed out")
            except LinkError as exc:
                return self._cut_short(sent, f"link error: {exc}")
        return Outcome(printed=False, reason="")

    @staticmethod
    def _cut_short(sent: int, reason: str) -> Outcome:
        return Outcome(printed=False, reason=reason if sent else "nothing sent")

    def _confirm(self, generation: int, size: int, paper_mm: float) -> Outcome:
        s = self.settings
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
        result = self.board.hold_steady(generation, wait)
        if result == "timeout" and self.board.is_ready():
            return Outcome(printed=True, reason="status clean", confirmation="status")
        return Outcome(printed=False, reason=result)

    def _announce_sending(self, journal: Journal, receipt_id: int, job: Print) -> None:
        """An event told while a print's bytes are going out: a journal that cannot be read
        now must not cut the print short (the next events carry the state)."""
        try:
            self._publish(journal, receipt_id, job)
        except Exception as exc:
            self._log.warning("event_not_published", receipt=receipt_id, print_id=job.id,
                              error=f"{type(exc).__name__}: {exc}")

    def _publish(self, journal: Journal, receipt_id: int, job: Print) -> None:
        order_ref: str | None = None
        try:
            state, order_ref = journal.receipts.state_of(receipt_id)
        except (JournalUnavailable, JournalCorrupt):
            raise
        except Exception:  # a receipt too damaged to load: the print's own state tells
            state = job.state if job.state in ("failed", "held") else "unknown"
        self._bus.publish("receipt", {
            "receipt_id": receipt_id, "printer": self.name, "state": state,
            "order_ref": order_ref,
            "print_id": job.id, "print_kind": job.kind, "print_state": job.state,
            "outcome": job.outcome, "reason": job.reason,
        })

