"""The status session over one link: connect, listen, poll, reconnect, and the state it finds.

One ``PrinterSession`` per configured printer runs in its own thread: it connects, enables
Automatic Status Back, reads the reply stream, polls DLE EOT while idle so a silent printer is
noticed, reconnects with a capped backoff, and turns what the printer says into one explicit
state. The spooler asks it to send bytes and to wait for process-ID confirmations. It never
touches the journal: state changes leave through its ``changes`` queue.

What the printer's language changes (ESC/POS or Star Line Mode: parser, status question, what
ends a print and how it is proven printed) comes from its ``printer.dialect``; a Star print is
proven by the ETB counter (``printer.etb``) and handed to the board as its process ID.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog

from receiptd import protocol
from receiptd.errors import LinkClosed, LinkError, LinkTimeout
from receiptd.links import Link
from receiptd.printer.board import StateBoard
from receiptd.printer.dialect import STAR, dialect_for
from receiptd.printer.etb import EtbTrack
from receiptd.printer.flow import FlowMarks
from receiptd.printer.queries import InfoQueries
from receiptd.printer.states import (
    FAULT_STATES,
    PrinterState,
    Snapshot,
    Transition,
    state_from_flags,
)
from receiptd.protocol import star

log = structlog.get_logger("receiptd.printer")


@dataclass
class SessionSettings:
    poll_interval_s: float = 0.5
    offline_after_s: float = 1.3
    write_timeout_s: float = 5.0
    backoff_min_s: float = 0.1
    backoff_max_s: float = 1.0
    probe_timeout_s: float = 2.0
    slowest_bytes_per_s: float = 960.0  # 9600 baud: the slowest a printer takes data
    maintenance_interval_s: float = 300.0  # GS g 2 refresh while idle (and after prints)


_PROBE_PID = "PRB "  # a space: encode_pid never produces it
#: The session loop's waits for the printer (``PrinterSession._quiet_for``).
QUIET_MIN_S = 0.005
QUIET_MAX_S = 0.5


class PrinterSession:
    """Owns one link; runs ``run()`` in its own thread. What it learns goes on ``board``."""

    def __init__(
        self,
        name: str,
        link: Link,
        *,
        settings: SessionSettings | None = None,
        on_beat: Callable[[], None] | None = None,
        last_seq: int = 0,
        dialect: str = "escpos",
    ) -> None:
        self.name = name
        self.link = link
        self.settings = settings or SessionSettings()
        self.board = StateBoard(name, last_seq=last_seq)
        self._on_beat = on_beat or (lambda: None)
        self._write_lock = threading.RLock()  # re-entered by _poll around write()
        self._stop = threading.Event()
        self._log = log.bind(printer=name)
        # Set by the daemon: True while no print is being sent (queries never split a print).
        self.is_idle: Callable[[], bool] = lambda: True
        # Set by the daemon: told of each error the session survived (health shows them).
        self.on_error: Callable[[str], None] = lambda error: None
        # --- reader-thread-only state ---
        self.dialect = dialect_for(dialect)
        self._star = self.dialect.name == STAR
        self._parser = self.dialect.parser()
        self._ledger = self.dialect.ledger()  # print data written vs proven read (liveness)
        self._etb = EtbTrack()  # Star: the ETBs written and proven (board's lock)
        self._etb_status = False  # Star: the status being handled was sent for an ETB
        self._etb_data = 0  # Star: print data written before the newest ETB (board's lock)
        self._star_silent = False  # Star: went silent; it may come back power-cycled
        self._flow = FlowMarks()  # print data written vs proven printed (pacing)
        self._streaming = False  # a print's chunks are going out: no queries between them
        self._probe_sent = 0.0
        self._rx_seen = False  # this connection has delivered a reply
        self._info = InfoQueries(self.settings.maintenance_interval_s)
        self._last_rx = 0.0
        self._last_poll = 0.0

    # ------------------------------------------------------------------ public, any thread

    @property
    def changes(self) -> queue.SimpleQueue[Transition]:
        """The printer's state changes, numbered, in the order they happened."""
        return self.board.changes

    @property
    def state(self) -> PrinterState:
        with self.board.cond:
            return self.board.state

    def snapshot(self) -> Snapshot:
        return self.board.snapshot(self.link.url, self.link.kind)

    def is_ready(self) -> bool:
        return self.board.is_ready()

    def write(self, data: bytes, timeout: float | None = None, *, control: bool = False) -> None:
        """Send bytes to the printer. Raises ``LinkError`` when not connected or on failure.

        ``control``: status queries and real-time commands of the session itself; everything
        else is print data, which a stopped printer may leave unread in front of our queries.
        """
        if not self.board.connected:
            raise LinkClosed(f"printer {self.name} is not connected")
        with self._write_lock:
            if not control:
                self._ledger.written += len(data)
            began = time.monotonic()
            try:
                self.link.write(data, self.settings.write_timeout_s if timeout is None else timeout)
            except LinkTimeout as exc:
                if not control:  # count only what went out (no query was sent meanwhile)
                    self._ledger.written -= len(data) - exc.written
                raise
            except LinkClosed as exc:
                self._lost(str(exc))
                raise
            if not control:
                self._ledger.took(began)

    def progress_mark(self) -> None:
        """While a print streams, between two of its commands (``render.command_boundaries``:
        anywhere else a query could become a command's data), ask for a status byte: its reply
        proves the printer has read this far (``liveness``). Raises like ``write``."""
        with self._write_lock, self._ledger.mark() as query:
            if query is not None:
                self.write(query, timeout=self.settings.write_timeout_s, control=True)

    def flow_mark(self) -> None:
        """Between two of a print's commands, a process ID of the session's own: answered
        once everything before it is printed (``flow``). Raises like ``write``."""
        if self._star:
            self._star_flow_mark()
            return
        with self._write_lock:
            with self.board.cond:
                pid = self._flow.mark(self._ledger.written)
            if pid is None:
                return
            try:
                self.write(protocol.process_id(pid), timeout=self.settings.write_timeout_s,
                           control=True)
            except LinkError:
                with self.board.cond:
                    self._flow.unplace(pid)
                raise

    def print_trailer(self, pid: str) -> bytes:
        """What ends the payload of the print that ``pid`` (``StateBoard.issue_process_id``)
        will confirm; the spooler appends it to the print's bytes."""
        return self.dialect.print_trailer(pid)

    def print_sent(self, pid: str) -> None:
        """All of the print's payload went out. A Star printer gets its ETB now, numbered
        among the others, so the counter it reports can be matched to ``pid``. Raises
        ``LinkError`` when the ETB cannot go out (the print is then in doubt)."""
        if not self._star:
            return
        with self._write_lock:
            with self.board.cond:
                if self.board.confirmation == "status":
                    return  # no ETB counter to learn: the spooler confirms by status
                mark = self._etb.place("print", pid)
            if mark is None:
                raise LinkClosed(f"printer {self.name}: no room for another ETB mark")
            try:
                self.write(star.etb(), timeout=self.settings.write_timeout_s, control=True)
            except LinkError as exc:
                if not isinstance(exc, LinkTimeout) or exc.written == 0:
                    with self.board.cond:
                        self._etb.unplace(mark)
                raise
            with self.board.cond:
                self._etb_data = self._ledger.written

    def _star_flow_mark(self) -> None:
        """A Star flow mark: an ETB of the session's own (the counter proves it printed)."""
        with self._write_lock:
            with self.board.cond:
                pid = self._flow.mark(self._ledger.written)
                if pid is None:
                    return
                mark = self._etb.place("flow", pid)
                if mark is None:
                    self._flow.unplace(pid)
                    return
            try:
                self.write(star.etb(), timeout=self.settings.write_timeout_s, control=True)
            except LinkError as exc:
                if not isinstance(exc, LinkTimeout) or exc.written == 0:
                    with self.board.cond:
                        self._flow.unplace(pid)
                        self._etb.unplace(mark)
                raise
            with self.board.cond:
                self._etb_data = self._ledger.written

    def wait_room(self, generation: int, timeout: float) -> str:
        """Wait until the printer has printed enough that the next piece keeps its receive
        buffer from filling (``flow``): ``"room"``, or as ``StateBoard.wait_until``. A Star
        printer's ETB counter must have room for the print's own ETB too (``etb``)."""
        if self._star:
            room = self._star_etb_room(generation, timeout)
            if room != "room":
                return room
        return self.board.wait_until(lambda: self._flow.has_room(self._ledger.written),
                                     "room", generation, timeout)

    def _star_etb_room(self, generation: int, timeout: float) -> str:
        """Before a piece of a print: wait until its ETB has room in the counter's run, and
        start a new run (``EtbTrack.rebase``) when nothing before it is unproven: no ETB
        open and no print data written since the newest."""
        etb = self._etb
        room = self.board.wait_until(
            lambda: not etb.learned or etb.room("print") or etb.rebase_due(), "room",
            generation, timeout)
        if room != "room":
            return room
        with self._write_lock:
            with self.board.cond:
                rebase = (etb.rebase_due() and self._etb_data == self._ledger.written
                          and self.board.generation == generation)
                data = etb.rebase() if rebase else b""
            if not data:
                return "room"
            try:
                self.write(data, timeout=self.settings.write_timeout_s, control=True)
            except LinkError as exc:
                # Where the counter stands is unknown now: learn it again.
                self._log.info("etb_rebase_failed", error=str(exc))
                self._star_forget()
                with contextlib.suppress(LinkError):
                    self._handshake()
                return "reset"
        return "room"

    @contextlib.contextmanager
    def print_stream(self) -> Iterator[None]:
        """Hold the session's own queries back while a print's bytes go out in chunks.

        Real-time commands are executed on arrival but their bytes are *also* taken as data:
        a DLE EOT poll landing between two chunks of an image would shift the raster and spoil
        the slip. Liveness meanwhile comes from the progress marks the spooler places between
        commands (``progress_mark``) and from the data being taken (``liveness.Ledger``).
        """
        with self._write_lock:  # a poll checks the flag and writes under this lock
            self._streaming = True
        try:
            yield
        finally:
            self._streaming = False

    def data_mark(self) -> int:
        """How much print data has been written so far (for ``wait_taken``)."""
        with self._write_lock:
            return self._ledger.written

    def wait_taken(self, mark: int, generation: int, timeout: float) -> str:
        """Wait until a status reply proves the printer has read all print data up to ``mark``.

        Returns ``"taken"``, or ``"fault:<state>"``, ``"reset"``, ``"timeout"``, ``"stopping"``.
        """
        return self.board.wait_until(lambda: self._ledger.proven >= mark, "taken", generation,
                                     timeout)

    def clear_buffers(self) -> None:
        """Throw away what the printer still holds of an interrupted print (DLE DC4 8; on a
        Star printer ``ESC ACK CAN``, which also resets its ETB counter and turns ASB off:
        the session greets it again and learns the counter afresh)."""
        if self._star:
            self._star_reset()
            return
        try:
            self.write(protocol.clear_buffers(), timeout=1.0, control=True)
        except LinkError as exc:
            self._log.info("clear_buffers_failed", error=str(exc))
        with self.board.cond:  # the flow marks in the buffer went with it
            self._flow.reset(self._ledger.written)

    def recover(self, clear: bool = True) -> None:
        """Admin action: DLE ENQ recovery from a cutter error or jam."""
        if self._star:
            # Star Line Mode has no DLE ENQ: ESC ACK CAN throws the buffer away and asks for
            # the status afresh; a jam or cutter error itself is cleared at the printer.
            self._star_reset(raise_errors=True)
            return
        self.write(protocol.recover(2 if clear else 1), timeout=1.0, control=True)
        self.write(protocol.request_status_now(1), timeout=1.0, control=True)
        if clear:
            self._reprobe()  # DLE ENQ 2 threw away a probe that was waiting in the buffer

    def _star_reset(self, *, raise_errors: bool = False) -> None:
        """ESC ACK CAN (real time): the printer drops its buffers, its ETB counter and ASB.
        Nothing written before can prove a print any more; prints wait until the counter is
        learned again (``confirmation`` is ``unknown`` until then)."""
        with self._write_lock:
            try:
                self.write(star.printer_reset(), timeout=1.0, control=True)
            except LinkError as exc:
                self._log.info("clear_buffers_failed", error=str(exc))
                if raise_errors:
                    raise
                return
            self._star_forget()
            with contextlib.suppress(LinkError):
                self._handshake()

    def _star_forget(self) -> None:
        """Nothing written before can prove a print: learn the ETB counter afresh."""
        self._ledger.settle()
        with self.board.cond:
            self._flow.reset(self._ledger.written)
            self._etb.forget()
            self.board.asb_seen = False
            self.board.confirmation = "unknown"
            self.board.cond.notify_all()

    def _star_back(self) -> None:
        """A silent Star printer answers again. It gives no power-on notice: a power cycle
        (ETB counter 0, ASB off) looks just like this. Void what was in flight and greet it
        again; data it still holds from before prints ahead of the probe and cannot be
        taken for it (``printer.etb``)."""
        self._star_silent = False
        self._log.warning("printer_back_from_silence", dialect=STAR)
        self.board.new_generation()
        self._star_forget()
        self._handshake()

    def request_maintenance(self) -> None:
        """Ask for fresh GS g 2 counters at the next idle moment (e.g. after a print)."""
        self._info.wanted = True

    def stop(self) -> None:
        self._stop.set()
        self.board.stop()

    # ------------------------------------------------------------------ the session thread

    def run(self) -> None:
        backoff = self.settings.backoff_min_s
        while not self._stop.is_set():
            self._on_beat()
            try:
                self.link.open()
            except LinkError as exc:
                with self.board.cond:
                    self.board.last_error = str(exc)
                self._transition(PrinterState.OFFLINE, f"cannot connect: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.backoff_max_s)
                continue
            try:
                self._connected_loop()
            except LinkError as exc:
                self._lost(str(exc))
            except Exception as exc:  # a reply (or a bug) broke the session: start over
                self._log.exception("session_error")
                self.on_error(f"{type(exc).__name__}: {exc}")
                self._lost(f"session error: {exc}")
                self._stop.wait(self.settings.backoff_max_s)
            finally:
                self.link.close()
            # Only a connection that answered resets the backoff: a printer that accepts and
            # drops at once (powering up, a flapping switch port) must not make us spin.
            if self._rx_seen:
                backoff = self.settings.backoff_min_s
            else:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.backoff_max_s)
        self._transition(PrinterState.UNKNOWN, "daemon stopping")

    def _connected_loop(self) -> None:
        now = time.monotonic()
        self._parser = self.dialect.parser()
        self._ledger.settle()
        with self.board.cond:
            self._flow.reset(self._ledger.written)
        self._info.forget()
        self._last_rx = now
        self._rx_seen = False
        with self.board.cond:
            self.board.asb_seen = False
            # Another printer may answer on this address now: ask again how to confirm.
            self.board.confirmation = "unknown"
            self._etb.forget()
        self._star_silent = False
        self.board.new_generation(connected=True, counter="reconnects")
        self._log.info("printer_connected", url=self.link.url)
        self._handshake()
        while not self._stop.is_set():
            self._on_beat()
            data = self.link.read(self._quiet_for(time.monotonic()))
            now = time.monotonic()
            if data:
                self._last_rx = now
                self._rx_seen = True
                if self._star_silent:
                    self._star_back()
                for event in self._parser.feed(data):
                    self._handle(event)
            # The probe waits in the buffer while the printer is in a fault: only time spent
            # ready counts against it.
            if (
                self.board.confirmation == "unknown"
                and self.is_ready()
                and now - max(self._probe_sent, self.board.ready_mono)
                > self.settings.probe_timeout_s
            ):
                self._confirm_by("status")
            if now - self._last_poll >= self.settings.poll_interval_s:
                self._poll(now)
            state = self.state  # a fault that stops printing may hold our queries up
            stopped = state in FAULT_STATES and state != PrinterState.OFFLINE
            if self._ledger.overdue(now, self._last_rx, self.settings.offline_after_s,
                                    self.settings.slowest_bytes_per_s, stopped=stopped):
                self._transition(PrinterState.OFFLINE, "printer not answering")
                self._star_silent = self._star
            self._maybe_query_maintenance(now)

    def _quiet_for(self, now: float) -> float:
        """How long the loop may wait for the printer: until the next thing it must do
        unprompted (a poll, the offline deadline, the probe's timeout), at most
        ``QUIET_MAX_S``. A reply wakes it at once; an idle printer costs a few wake-ups a
        second instead of one every 50 ms."""
        if self._streaming:
            return QUIET_MIN_S * 10
        due = self._last_poll + self.settings.poll_interval_s
        state = self.state
        stopped = state in FAULT_STATES and state != PrinterState.OFFLINE
        silent = self._ledger.deadline(self._last_rx, self.settings.offline_after_s,
                                       self.settings.slowest_bytes_per_s, stopped=stopped)
        if silent is not None:
            due = min(due, silent)
        if self.board.confirmation == "unknown":
            due = min(due, max(self._probe_sent, self.board.ready_mono)
                      + self.settings.probe_timeout_s)
        return min(QUIET_MAX_S, max(QUIET_MIN_S, due - now + QUIET_MIN_S))

    def _handshake(self) -> None:
        if self._star:
            # Status on, one status now, the version, then the counter's probe (``etb``).
            with self.board.cond:
                probe = self._etb.probe()
            hello = (star.enable_asb() + self._ledger.queries() + star.version_request()
                     + probe)
            self.write(hello, timeout=self.settings.write_timeout_s, control=True)
            with self.board.cond:
                self._etb_data = self._ledger.written
            self._last_poll = self._probe_sent = time.monotonic()
            return
        hello = protocol.enable_asb() + self._ledger.queries() + self._info.identity()
        hello += self._info.maintenance(time.monotonic())
        hello += protocol.process_id(_PROBE_PID)
        self.write(hello, timeout=self.settings.write_timeout_s, control=True)
        self._last_poll = self._probe_sent = time.monotonic()

    def _reprobe(self) -> None:
        """Ask for the probe again if its answer has not come: a buffer clear drops it."""
        if self.board.confirmation != "unknown" or self._streaming or self._star:
            return
        with contextlib.suppress(LinkError):
            self.write(protocol.process_id(_PROBE_PID), timeout=1.0, control=True)
            self._probe_sent = time.monotonic()

    def _maybe_query_maintenance(self, now: float) -> None:
        # GS g 2 is answered when reached in the buffer: ask only while ready and idle, and
        # write it under the write lock after checking idleness, so it never lands inside a
        # print (the spooler marks itself busy before its first byte).
        if self._star or not self._info.maintenance_due(now) or not self.is_ready():
            return  # Star Line Mode has no maintenance counters to ask for
        self._info.forget()  # any still open were lost (buffer cleared): start afresh
        with self._write_lock:
            if not self.is_idle():
                return
            try:
                self.link.write(self._info.maintenance(now), 0.5)
            except LinkTimeout:
                self._info.forget()
            except LinkClosed as exc:
                self._info.forget()
                self._lost(str(exc))

    def _poll(self, now: float) -> None:
        self._last_poll = now
        # Checked and written as one step: a print that starts streaming in between (the
        # send window starts them back to back) would otherwise get the poll after its first
        # chunk.
        with self._write_lock:
            if self._streaming:
                return  # never between the chunks of a print (see print_stream)
            if self._ledger.piling_up():
                if self.state != PrinterState.OFFLINE:
                    # Replies stopped: keep one round outstanding, do not pile queries up.
                    return
                # Offline: the printer may have lost those queries (power loss on a serial
                # line, where no reconnect resets anything); unanswerable ones must not stop
                # the polls.
                self._ledger.drop_questions()
            # A write timeout means the printer stopped reading: that is what silence looks like.
            with contextlib.suppress(LinkTimeout):
                self.write(self._ledger.queries(), timeout=0.2, control=True)

    # ------------------------------------------------------------------ reply handling

    def _handle(self, event: protocol.Event | star.StarEvent) -> None:
        match event:
            case protocol.AsbStatus(flags=flags):
                with self.board.cond:
                    self.board.asb_seen = True
                if self._star:
                    self._star_answered()
                self._apply(flags)
            case star.EtbCounter(value=value, executed=executed):
                self._etb_status = executed
                self._etb_reported(value)
            case star.VersionReply(text=text):
                with self.board.cond:
                    self.board.identity["firmware"] = text
                    model = text.split(" Ver")[0].strip()
                    if model:
                        self.board.identity["model"] = model
            case protocol.RealTimeStatus(value=value):
                asked = self._ledger.answered()
                if asked is None:
                    return  # unrequested (e.g. 10 04 n inside image data): ignore
                n, seq = asked
                board = self.board
                with board.cond:
                    if seq > self._ledger.proven:
                        self._ledger.proven = seq
                        board.cond.notify_all()
                    asb = board.asb_seen
                    merged = protocol.merge_dle_eot(board.flags, n, value)
                    state, flags = board.state, board.flags
                # With ASB on, it is the source of truth; DLE EOT keeps proving liveness.
                # Without ASB, a full round of four replies is the status.
                if not asb and n == 4:
                    self._apply(merged)
                elif not asb:
                    with board.cond:
                        board.flags = merged
                elif state in (PrinterState.OFFLINE, PrinterState.UNKNOWN):
                    # Back from silence: the last ASB may be stale, ask for a fresh one.
                    self._apply(flags)
                    with contextlib.suppress(LinkTimeout):
                        self.write(protocol.request_status_now(1), timeout=0.2, control=True)
            case protocol.ProcessIdReply(pid=pid):
                with self.board.cond:
                    if self._flow.answered(pid):
                        self.board.cond.notify_all()
                        return
                if pid == _PROBE_PID:
                    self._confirm_by("process_id")
                else:
                    self.board.process_id_returned(pid)
            case protocol.InfoBlock(payload=payload):
                answer = self._info.answer(payload)
                with self.board.cond:
                    if answer is None:
                        pass
                    elif answer.kind == "identity":
                        self.board.identity[answer.key] = answer.text
                    elif answer.text.isdigit():
                        self.board.maintenance[answer.key] = int(answer.text)
                        self.board.maintenance_at = time.time()
            case protocol.PowerOn():
                self._log.warning("printer_power_on")
                self.board.new_generation(counter="power_on")
                self._info.forget()  # questions in the lost buffer never answer
                # Status queries sent while it was off were lost too: waiting for their replies
                # would stop the polls for good (serial: no reconnect resets them).
                self._ledger.settle()
                with self.board.cond:
                    self._flow.reset(self._ledger.written)
                    self.board.asb_seen = False  # the reset disabled ASB until the handshake
                self._handshake()
            case protocol.BufferCleared():
                self._reprobe()
            case protocol.Garbage(data=data):
                with self.board.cond:
                    self.board.counters["garbage_bytes"] += len(data)
            case _:
                pass

    def _star_answered(self) -> None:
        """A Star status: it answers the oldest status question, unless an ETB sent it."""
        if self._etb_status:
            self._etb_status = False
            return
        asked = self._ledger.answered()
        if asked is None:
            return
        with self.board.cond:
            if asked[1] > self._ledger.proven:
                self._ledger.proven = asked[1]
                self.board.cond.notify_all()

    def _etb_reported(self, value: int) -> None:
        board = self.board
        with board.cond:
            report = self._etb.reported(value)
            for mark in report.done:
                if mark.kind == "flow":
                    self._flow.answered(mark.key)
            board.cond.notify_all()  # flow room, and room in the ETB counter's run
        if report.jump:
            # No ETB of ours leaves the counter there: the printer lost power or was reset,
            # or someone else printed. Nothing in flight can be proven: learn afresh.
            self._log.warning("etb_counter_jump", value=value)
            board.new_generation(counter="etb_jump")
            self._star_forget()
            self._handshake()
            return
        if report.learned:
            self._confirm_by("process_id")
        for mark in report.done:
            if mark.kind == "print":
                board.process_id_returned(mark.key)

    def _apply(self, flags: protocol.StatusFlags) -> None:
        with self.board.cond:
            self.board.flags = flags
        state, cause = state_from_flags(flags)
        self._transition(state, cause)

    # ------------------------------------------------------------------ changes of state

    def _transition(self, state: PrinterState, cause: str) -> None:
        change = self.board.change(state, cause)  # the one door: numbered and queued
        if change is not None:
            self._log.info("printer_state", state=state.value, previous=change.previous.value,
                           cause=cause, seq=change.seq)

    def _lost(self, why: str) -> None:
        """The link is gone (noticed by any thread): what was in flight is void."""
        if self.board.new_generation(connected=False):
            with self.board.cond:
                self.board.last_error = why
            self._log.warning("printer_link_lost", error=why)
        self._transition(PrinterState.OFFLINE, f"link lost: {why}")

    def _confirm_by(self, how: str) -> None:
        self.board.confirm_by(how)
        self._log.info("confirmation_mode", mode=how)
