"""The printer state machine and the status session over one link.

One ``PrinterSession`` per configured printer runs in its own thread: it connects, enables
Automatic Status Back, reads the reply stream, polls DLE EOT while idle so a silent printer is
noticed, reconnects with a capped backoff, and turns what the printer says into one explicit
state. The spooler asks it to send bytes and to wait for process-ID confirmations; it never
touches the journal — transitions go out through the ``on_transition`` callback.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import structlog

from receiptd import protocol
from receiptd.errors import LinkClosed, LinkError, LinkTimeout
from receiptd.links import Link

log = structlog.get_logger("receiptd.printer")


class PrinterState(enum.StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    CUTTER_ERROR = "cutter_error"
    MECHANICAL_ERROR = "mechanical_error"
    AUTO_RECOVERABLE_ERROR = "auto_recoverable_error"
    UNRECOVERABLE_ERROR = "unrecoverable_error"
    OFFLINE = "offline"


READY_STATES = frozenset({PrinterState.ONLINE, PrinterState.PAPER_NEAR_END})
FAULT_STATES = frozenset(PrinterState) - READY_STATES - {PrinterState.UNKNOWN}
# Errors the printer only leaves after DLE ENQ: an admin action, never automatic.
RECOVERABLE_STATES = frozenset({PrinterState.CUTTER_ERROR, PrinterState.MECHANICAL_ERROR})


@dataclass(frozen=True)
class Advice:
    category: str
    en: str
    zh: str


ADVICE: dict[PrinterState, Advice] = {
    PrinterState.UNKNOWN: Advice("connection", "Connecting to the printer…", "正在连接打印机…"),
    PrinterState.ONLINE: Advice("none", "Ready.", "就绪。"),
    PrinterState.PAPER_NEAR_END: Advice(
        "consumable", "Paper is running low: have a new roll ready.", "纸张即将用完：请准备新纸卷。"
    ),
    PrinterState.PAPER_OUT: Advice(
        "consumable", "Paper is out: load a new roll and close the cover.",
        "缺纸：请装入新纸卷并合上盖子。",
    ),
    PrinterState.COVER_OPEN: Advice(
        "operator", "The cover is open: close it firmly.", "打印机盖已打开：请合紧盖子。"
    ),
    PrinterState.CUTTER_ERROR: Advice(
        "hardware",
        "Cutter error: open the cover, remove jammed paper at the cutter, close the cover, "
        "then recover the printer from receiptd (receiptctl recover).",
        "切刀故障：打开盖子，清除切刀处卡纸，合上盖子，"
        "然后在 receiptd 中恢复打印机（receiptctl recover）。",
    ),
    PrinterState.MECHANICAL_ERROR: Advice(
        "hardware",
        "Paper jam: open the cover, remove the jammed paper, close the cover, then recover "
        "the printer from receiptd (receiptctl recover).",
        "卡纸：打开盖子，取出卡住的纸，合上盖子，"
        "然后在 receiptd 中恢复打印机（receiptctl recover）。",
    ),
    PrinterState.AUTO_RECOVERABLE_ERROR: Advice(
        "hardware", "Print head too hot: wait; printing resumes by itself when it cools.",
        "打印头过热：请稍候，冷却后会自动继续打印。",
    ),
    PrinterState.UNRECOVERABLE_ERROR: Advice(
        "hardware", "Printer hardware error: switch the printer off and on; call service if it "
        "persists.", "打印机硬件故障：请关闭再打开打印机电源；如仍有问题请联系维修。",
    ),
    PrinterState.OFFLINE: Advice(
        "connection", "Printer not reachable: check its power, cable or network.",
        "打印机无法连接：请检查电源、数据线或网络。",
    ),
}


def state_from_flags(flags: protocol.StatusFlags) -> tuple[PrinterState, str]:
    """The one state a set of status flags means, most severe first, and its cause."""
    table: tuple[tuple[bool, PrinterState, str], ...] = (
        (flags.unrecoverable_error, PrinterState.UNRECOVERABLE_ERROR, "unrecoverable error"),
        (flags.cutter_error, PrinterState.CUTTER_ERROR, "autocutter error"),
        (flags.recoverable_error, PrinterState.MECHANICAL_ERROR, "recoverable mechanical error"),
        (flags.auto_recoverable_error, PrinterState.AUTO_RECOVERABLE_ERROR, "head overheat"),
        (flags.cover_open, PrinterState.COVER_OPEN, "cover open"),
        (flags.paper_end, PrinterState.PAPER_OUT, "paper end"),
        (flags.offline, PrinterState.OFFLINE, "printer reports offline"),
        (flags.paper_near_end, PrinterState.PAPER_NEAR_END, "paper near end"),
    )
    for active, state, cause in table:
        if active:
            return state, cause
    return PrinterState.ONLINE, "status ok"


def active_flags(flags: protocol.StatusFlags) -> list[str]:
    return [f.name for f in fields(flags) if getattr(flags, f.name)]


@dataclass(frozen=True)
class Transition:
    printer: str
    state: PrinterState
    previous: PrinterState
    cause: str
    at: float
    flags: tuple[str, ...]


@dataclass
class Snapshot:
    """What the health API shows; a copy, safe to read from any thread."""

    name: str
    url: str
    kind: str
    state: PrinterState
    since: float
    cause: str
    flags: list[str]
    connected: bool
    confirmation: str  # "process_id" | "status" | "unknown"
    identity: dict[str, str]
    last_error: str | None
    counters: dict[str, int] = field(default_factory=dict)
    # GS g 2 maintenance counters (``MAINTENANCE_QUERIES`` keys) and when they last answered
    maintenance: dict[str, int] = field(default_factory=dict)
    maintenance_at: float | None = None


@dataclass
class SessionSettings:
    poll_interval_s: float = 0.5
    offline_after_s: float = 1.5
    write_timeout_s: float = 5.0
    backoff_min_s: float = 0.1
    backoff_max_s: float = 1.0
    probe_timeout_s: float = 2.0
    slowest_bytes_per_s: float = 960.0  # 9600 baud: the slowest a printer takes data
    maintenance_interval_s: float = 300.0  # GS g 2 refresh while idle (and after prints)


# What GS I n asks, in the order asked: each 0x5F reply answers the oldest open question.
_IDENTITY_QUERIES = ((67, "model"), (66, "maker"), (65, "firmware"), (68, "serial"))
_PROBE_PID = "PRB "  # a space: encode_pid never produces it
# GS g 2 counters asked on connect and refreshed while idle; +128 = cumulative (lifetime).
MAINTENANCE_QUERIES = (
    (20, "lines_fed"), (50, "cuts"), (70, "hours"),
    (20 + protocol.CUMULATIVE, "lines_fed_total"), (50 + protocol.CUMULATIVE, "cuts_total"),
    (70 + protocol.CUMULATIVE, "hours_total"),
)


class PrinterSession:
    """Owns one link; runs ``run()`` in its own thread."""

    def __init__(
        self,
        name: str,
        link: Link,
        *,
        settings: SessionSettings | None = None,
        on_transition: Callable[[Transition], None] | None = None,
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.link = link
        self.settings = settings or SessionSettings()
        self._on_transition = on_transition or (lambda t: None)
        self._on_beat = on_beat or (lambda: None)
        self._cond = threading.Condition()
        self._write_lock = threading.RLock()  # re-entered by _poll around write()
        self._stop = threading.Event()
        self._log = log.bind(printer=name)
        # --- state, guarded by _cond ---
        self._state = PrinterState.UNKNOWN
        self._since = time.time()
        self._cause = "starting"
        self._flags = protocol.StatusFlags()
        self._asb_seen = False
        self._connected = False
        self._generation = 0  # +1 per connection and per printer reset: in-flight prints are void
        self._pids: deque[str] = deque(maxlen=64)
        self._confirmation = "unknown"
        self._identity: dict[str, str] = {}
        self._last_error: str | None = None
        self._ready_mono = 0.0
        self._counters = {"reconnects": 0, "power_on": 0, "garbage_bytes": 0}
        self._maintenance: dict[str, int] = {}
        self._maintenance_at: float | None = None
        self._maintenance_due = False  # set by any thread; sent by the session thread
        self._maintenance_sent = 0.0
        # Set by the daemon: True while no print is being sent (queries never split a print).
        self.is_idle: Callable[[], bool] = lambda: True
        # --- reader-thread-only state ---
        self._parser = protocol.StreamParser()
        # Each DLE EOT query asked, with the print-data sequence number written before it: a
        # reply proves the printer has taken every data byte up to that number.
        self._eot_pending: deque[tuple[int, int]] = deque()
        self._streaming = False  # a print's chunks are going out: no queries between them
        self._data_seq = 0  # print-data bytes written so far (any thread)
        self._acked_seq = 0  # highest data_seq a status reply has proven taken
        self._probe_sent = 0.0
        self._rx_seen = False  # this connection has delivered a reply
        self._info_pending: deque[str] = deque()
        self._last_rx = 0.0
        self._last_poll = 0.0

    # ------------------------------------------------------------------ public, any thread

    @property
    def state(self) -> PrinterState:
        with self._cond:
            return self._state

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def snapshot(self) -> Snapshot:
        with self._cond:
            return Snapshot(
                name=self.name, url=self.link.url, kind=self.link.kind, state=self._state,
                since=self._since, cause=self._cause, flags=active_flags(self._flags),
                connected=self._connected, confirmation=self._confirmation,
                identity=dict(self._identity), last_error=self._last_error,
                counters=dict(self._counters), maintenance=dict(self._maintenance),
                maintenance_at=self._maintenance_at,
            )

    def is_ready(self) -> bool:
        with self._cond:
            return self._connected and self._state in READY_STATES

    def _can_print(self) -> bool:
        return (
            self._connected and self._state in READY_STATES and self._confirmation != "unknown"
        )

    def wait_ready(self, timeout: float) -> bool:
        """Block until the printer can print and we know how prints get confirmed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._can_print():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return False
                self._cond.wait(remaining)
            return True

    def supports_process_id(self) -> bool:
        with self._cond:
            return self._confirmation == "process_id"

    def write(self, data: bytes, timeout: float | None = None, *, control: bool = False) -> None:
        """Send bytes to the printer. Raises ``LinkError`` when not connected or on failure.

        ``control``: status queries and real-time commands of the session itself; everything
        else is print data, which a stopped printer may leave unread in front of our queries.
        """
        if not self._connected:
            raise LinkClosed(f"printer {self.name} is not connected")
        with self._write_lock:
            if not control:
                self._data_seq += len(data)
            try:
                self.link.write(data, self.settings.write_timeout_s if timeout is None else timeout)
            except LinkTimeout as exc:
                if not control:  # count only what went out (no query was sent meanwhile)
                    self._data_seq -= len(data) - exc.written
                raise
            except LinkClosed as exc:
                self._lost(str(exc))
                raise

    def wait_process_ids(self, pids: Collection[str], generation: int, timeout: float) -> str:
        """Wait for the first of ``pids`` to come back from the printer.

        Returns ``"confirmed"``; or why none can come any more: ``"fault:<state>"`` when the
        printer faulted, ``"reset"`` when the connection dropped or the printer restarted
        (its buffer is gone), ``"timeout"``, ``"stopping"``.
        """
        wanted = frozenset(pids)
        return self._wait_until(lambda: not wanted.isdisjoint(self._pids), "confirmed",
                                generation, timeout)

    def returned_process_ids(self, pids: Collection[str]) -> set[str]:
        """Which of ``pids`` the printer has handed back (the newest 64 replies are kept)."""
        with self._cond:
            return set(pids).intersection(self._pids)

    @contextlib.contextmanager
    def print_stream(self) -> Iterator[None]:
        """Hold the session's own queries back while a print's bytes go out in chunks.

        Real-time commands are executed on arrival but their bytes are *also* taken as data:
        a DLE EOT poll landing between two chunks of an image would shift the raster and spoil
        the slip. Liveness meanwhile comes from the data being taken (``_silence_allowed``).
        """
        with self._write_lock, self._cond:  # a poll checks the flag and writes under this lock
            self._streaming = True
        try:
            yield
        finally:
            with self._cond:
                self._streaming = False

    def data_mark(self) -> int:
        """How much print data has been written so far (for ``wait_taken``)."""
        with self._write_lock:
            return self._data_seq

    def wait_taken(self, mark: int, generation: int, timeout: float) -> str:
        """Wait until a status reply proves the printer has read all print data up to ``mark``.

        Returns ``"taken"``, or ``"fault:<state>"``, ``"reset"``, ``"timeout"``, ``"stopping"``.
        """
        return self._wait_until(lambda: self._acked_seq >= mark, "taken", generation, timeout)

    def hold_steady(self, generation: int, timeout: float) -> str:
        """Watch the printer for ``timeout``: ``"timeout"`` if it stayed connected and
        fault-free all along, else why not (as ``wait_process_ids``)."""
        return self._wait_until(lambda: False, "", generation, timeout)

    def _wait_until(self, done: Callable[[], bool], success: str, generation: int,
                    timeout: float) -> str:
        """Wait (under ``_cond``) until ``done()``, or until it can no longer come true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if done():
                    return success
                if self._generation != generation:
                    return "reset"
                if self._state in FAULT_STATES:
                    return f"fault:{self._state.value}"
                if self._stop.is_set():
                    return "stopping"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                self._cond.wait(min(remaining, 0.5))

    def clear_buffers(self) -> None:
        """Throw away what the printer still holds of an interrupted print (DLE DC4 8)."""
        try:
            self.write(protocol.clear_buffers(), timeout=1.0, control=True)
        except LinkError as exc:
            self._log.info("clear_buffers_failed", error=str(exc))

    def recover(self, clear: bool = True) -> None:
        """Admin action: DLE ENQ recovery from a cutter error or jam."""
        self.write(protocol.recover(2 if clear else 1), timeout=1.0, control=True)
        self.write(protocol.request_status_now(1), timeout=1.0, control=True)
        if clear:
            self._reprobe()  # DLE ENQ 2 threw away a probe that was waiting in the buffer

    def request_maintenance(self) -> None:
        """Ask for fresh GS g 2 counters at the next idle moment (e.g. after a print)."""
        self._maintenance_due = True

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ the session thread

    def run(self) -> None:
        backoff = self.settings.backoff_min_s
        while not self._stop.is_set():
            self._on_beat()
            try:
                self.link.open()
            except LinkError as exc:
                self._set_error(str(exc))
                self._transition(PrinterState.OFFLINE, f"cannot connect: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.backoff_max_s)
                continue
            try:
                self._connected_loop()
            except LinkError as exc:
                self._lost(str(exc))
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
        self._parser = protocol.StreamParser()
        self._eot_pending.clear()
        self._info_pending.clear()
        self._last_rx = now
        self._rx_seen = False
        self._acked_seq = self._data_seq
        with self._cond:
            self._connected = True
            self._asb_seen = False
            # Another printer may answer on this address now: ask again how to confirm.
            self._confirmation = "unknown"
            self._generation += 1
            self._counters["reconnects"] += 1
            self._cond.notify_all()
        self._log.info("printer_connected", url=self.link.url)
        self._handshake()
        while not self._stop.is_set():
            self._on_beat()
            data = self.link.read(0.05)
            now = time.monotonic()
            if data:
                self._last_rx = now
                self._rx_seen = True
                for event in self._parser.feed(data):
                    self._handle(event)
            # The probe waits in the buffer while the printer is in a fault: only time spent
            # ready counts against it.
            if (
                self._confirmation == "unknown"
                and self.is_ready()
                and now - max(self._probe_sent, self._ready_mono) > self.settings.probe_timeout_s
            ):
                self._set_confirmation("status")
            if now - self._last_poll >= self.settings.poll_interval_s:
                self._poll(now)
            if now - self._last_rx > self._silence_allowed() and not self._held_up():
                self._transition(PrinterState.OFFLINE, "printer not answering")
            self._maybe_query_maintenance(now)

    def _handshake(self) -> None:
        hello = protocol.enable_asb() + self._queries()
        for n, key in _IDENTITY_QUERIES:
            hello += protocol.identity(n)
            self._info_pending.append(key)
        hello += self._maintenance_queries()
        hello += protocol.process_id(_PROBE_PID)
        self.write(hello, timeout=self.settings.write_timeout_s, control=True)
        self._last_poll = self._probe_sent = time.monotonic()

    def _reprobe(self) -> None:
        """Ask for the probe again if its answer has not come: a buffer clear drops it."""
        if self._confirmation != "unknown" or self._streaming:
            return
        with contextlib.suppress(LinkError):
            self.write(protocol.process_id(_PROBE_PID), timeout=1.0, control=True)
            self._probe_sent = time.monotonic()

    def _silence_allowed(self) -> float:
        """Our queries travel behind the print data written before them: a printer still
        taking that data at the slowest expected rate cannot answer sooner (a 4 KB receipt on
        a 9600-baud line is 4 s of data). Without this, a long receipt on a slow link was
        declared offline, interrupted and reprinted, forever."""
        unacked = max(0, self._data_seq - self._acked_seq)
        return self.settings.offline_after_s + unacked / self.settings.slowest_bytes_per_s

    def _held_up(self) -> bool:
        """Silence explained by the printer itself: it reported a fault that stops printing,
        and print data we wrote is still unread in front of our status queries (its receive
        buffer is full), so the queries cannot reach it until the fault clears."""
        with self._cond:
            stopped = self._state in FAULT_STATES and self._state != PrinterState.OFFLINE
        return stopped and self._data_seq > self._acked_seq

    def _maintenance_queries(self) -> bytes:
        """GS g 2 for each counter; the caller must write the bytes in this same thread."""
        self._maintenance_sent = time.monotonic()
        self._maintenance_due = False
        out = b""
        for n, key in MAINTENANCE_QUERIES:
            out += protocol.maintenance_counter(n)
            self._info_pending.append("maint:" + key)
        return out

    def _maybe_query_maintenance(self, now: float) -> None:
        # GS g 2 is answered when reached in the buffer: ask only while ready and idle, and
        # write it under the write lock after checking idleness, so it never lands inside a
        # print (the spooler marks itself busy before its first byte).
        due = self._maintenance_due or (
            now - self._maintenance_sent >= self.settings.maintenance_interval_s
        )
        if not due or not self.is_ready():
            return
        if self._info_pending and now - self._maintenance_sent < 30.0:
            return  # earlier questions still open: do not pile more up
        if self._info_pending:
            self._info_pending.clear()  # lost (buffer cleared): start correlation afresh
        with self._write_lock:
            if not self.is_idle():
                return
            data = self._maintenance_queries()
            try:
                self.link.write(data, 0.5)
            except LinkTimeout:
                self._info_pending.clear()
            except LinkClosed as exc:
                self._info_pending.clear()
                self._lost(str(exc))

    def _queries(self) -> bytes:
        seq = self._data_seq
        self._eot_pending.extend((n, seq) for n in (1, 2, 3, 4))
        return b"".join(protocol.dle_eot(n) for n in (1, 2, 3, 4))

    def _poll(self, now: float) -> None:
        self._last_poll = now
        # Checked and written as one step: a print that starts streaming in between (the
        # send window starts them back to back) would otherwise get the poll after its first
        # chunk.
        with self._write_lock:
            if self._streaming:
                return  # never between the chunks of a print (see print_stream)
            if len(self._eot_pending) > 16:
                if self.state != PrinterState.OFFLINE:
                    # Replies stopped: keep one round outstanding, do not pile queries up.
                    return
                # Offline: the printer may have lost those queries (power loss on a serial
                # line, where no reconnect resets anything); unanswerable ones must not stop
                # the polls.
                self._eot_pending.clear()
            # A write timeout means the printer stopped reading: that is what silence looks like.
            with contextlib.suppress(LinkTimeout):
                self.write(self._queries(), timeout=0.2, control=True)

    # ------------------------------------------------------------------ reply handling

    def _handle(self, event: protocol.Event) -> None:
        match event:
            case protocol.AsbStatus(flags=flags):
                with self._cond:
                    self._asb_seen = True
                self._apply(flags)
            case protocol.RealTimeStatus(value=value):
                if not self._eot_pending:
                    return  # unrequested (e.g. 10 04 n inside image data): ignore
                n, seq = self._eot_pending.popleft()
                if seq > self._acked_seq:
                    with self._cond:
                        self._acked_seq = seq
                        self._cond.notify_all()
                with self._cond:
                    asb = self._asb_seen
                    merged = protocol.merge_dle_eot(self._flags, n, value)
                # With ASB on, it is the source of truth; DLE EOT keeps proving liveness.
                # Without ASB, a full round of four replies is the status.
                if not asb and n == 4:
                    self._apply(merged)
                elif not asb:
                    with self._cond:
                        self._flags = merged
                elif self._state in (PrinterState.OFFLINE, PrinterState.UNKNOWN):
                    # Back from silence: the last ASB may be stale, ask for a fresh one.
                    self._apply(self._flags)
                    with contextlib.suppress(LinkTimeout):
                        self.write(protocol.request_status_now(1), timeout=0.2, control=True)
            case protocol.ProcessIdReply(pid=pid):
                if pid == _PROBE_PID:
                    self._set_confirmation("process_id")
                    return
                with self._cond:
                    self._pids.append(pid)
                    self._cond.notify_all()
            case protocol.InfoBlock(payload=payload):
                if self._info_pending:
                    key = self._info_pending.popleft()
                    text = payload.decode("ascii", "replace").strip()
                    with self._cond:
                        if not key.startswith("maint:"):
                            self._identity[key] = text
                        elif text.isdigit():
                            self._maintenance[key[6:]] = int(text)
                            self._maintenance_at = time.time()
            case protocol.PowerOn():
                self._log.warning("printer_power_on")
                with self._cond:
                    self._generation += 1
                    self._counters["power_on"] += 1
                    self._cond.notify_all()
                self._info_pending.clear()  # questions in the lost buffer never answer
                # Status queries sent while it was off were lost too: waiting for their replies
                # would stop the polls for good (serial: no reconnect resets them).
                self._eot_pending.clear()
                self._acked_seq = self._data_seq
                with self._cond:
                    self._asb_seen = False  # the reset disabled ASB until the handshake
                self._handshake()
            case protocol.BufferCleared():
                self._reprobe()
            case protocol.Garbage(data=data):
                with self._cond:
                    self._counters["garbage_bytes"] += len(data)
            case _:
                pass

    def _apply(self, flags: protocol.StatusFlags) -> None:
        with self._cond:
            self._flags = flags
        state, cause = state_from_flags(flags)
        self._transition(state, cause)

    # ------------------------------------------------------------------ the one door

    def _transition(self, state: PrinterState, cause: str) -> None:
        with self._cond:
            previous = self._state
            if previous == state:
                return
            self._state = state
            self._since = time.time()
            self._cause = cause
            if state in READY_STATES:
                self._ready_mono = time.monotonic()
            flags = tuple(active_flags(self._flags))
            self._cond.notify_all()
            transition = Transition(self.name, state, previous, cause, self._since, flags)
        self._log.info("printer_state", state=state.value, previous=previous.value, cause=cause)
        try:
            self._on_transition(transition)
        except Exception:  # a broken listener must not stop status handling
            self._log.exception("transition_listener_failed")

    def _lost(self, why: str) -> None:
        with self._cond:
            was = self._connected
            self._connected = False
            self._generation += 1
            self._cond.notify_all()
        if was:
            self._set_error(why)
            self._log.warning("printer_link_lost", error=why)
        self._transition(PrinterState.OFFLINE, f"link lost: {why}")

    def _set_error(self, why: str) -> None:
        with self._cond:
            self._last_error = why

    def _set_confirmation(self, how: str) -> None:
        with self._cond:
            self._confirmation = how
            self._cond.notify_all()
        self._log.info("confirmation_mode", mode=how)


def describe(snapshot: Snapshot) -> dict[str, Any]:
    advice = ADVICE[snapshot.state]
    return {"category": advice.category, "hint": {"en": advice.en, "zh": advice.zh}}
