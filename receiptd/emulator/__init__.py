"""A virtual Epson-class (TM-T88) receipt printer with fault injection; ``dialect="star"`` makes
it a Star TSP100-class printer in Star Line Mode instead (docs/STAR.md).

In-process use (tests)::

    emu = Emulator(speed_mm_s=1000)
    port = emu.start_tcp()            # host connects to 127.0.0.1:port like a printer's 9100
    ...
    emu.inject("paper_out")           # or emu.arm("paper_out", after_mm=40)
    emu.clear("paper_out")            # paper loaded
    emu.transcript.text()             # what came out on paper
    emu.stop()

Out of process: ``receiptd-emulator serve`` (see README.md in this package). This package never
imports ``receiptd.protocol``: a test printer built from the code under test cannot catch its bugs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from receiptd.emulator import control
from receiptd.emulator.engine import Engine
from receiptd.emulator.model import EmulatorError, Fault, Identity, PrinterConfig, PrinterModel
from receiptd.emulator.server import PtyTransport, TcpTransport
from receiptd.emulator.star_model import StarPrinterModel
from receiptd.emulator.transcript import Transcript

__all__ = ["DIALECTS", "Emulator", "EmulatorError", "Fault", "Identity", "PrinterConfig",
           "Transcript"]

# The command languages the emulated printer speaks: ESC/POS (Epson TM-T88 class) or Star Line
# Mode (Star TSP100 / mC-Print class, docs/STAR.md).
DIALECTS: dict[str, type[PrinterModel]] = {"escpos": PrinterModel, "star": StarPrinterModel}


class Emulator:
    def __init__(
        self,
        speed_mm_s: float = 250.0,
        buffer_size: int = 4096,
        columns: int = 42,
        *,
        bytes_per_s: float | None = None,
        overheat_s: float = 2.0,
        power_off_s: float = 1.0,
        cjk: str = "gb18030",
        identity: Identity | None = None,
        process_id: bool = True,
        dialect: str = "escpos",
        star_version: str = PrinterConfig.star_version,
    ) -> None:
        if dialect not in DIALECTS:
            raise EmulatorError(f"dialect={dialect!r}: use one of {sorted(DIALECTS)}")
        config = PrinterConfig(buffer_size=buffer_size, speed_mm_s=speed_mm_s, columns=columns,
                               bytes_per_s=bytes_per_s, overheat_s=overheat_s,
                               power_off_s=power_off_s, cjk=cjk, identity=identity or Identity(),
                               process_id=process_id, dialect=dialect, star_version=star_version)
        self.model = DIALECTS[dialect](config, now=Engine.now())
        self.engine = Engine(self.model)
        self.engine.start()
        self.tcp: TcpTransport | None = None
        self.pty: PtyTransport | None = None
        self.control_server: control.ControlServer | None = None

    # -- transports ----------------------------------------------------------------------------

    def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for the host like a printer's port 9100; returns the port."""
        if self.tcp is None:
            if isinstance(self.model, StarPrinterModel):  # a LAN printer: ASB always on
                with self.engine.lock:
                    self.model.ethernet_link()
            self.tcp = TcpTransport(self.engine, host, port)
            self.tcp.start()
        return int(self.tcp.port)

    def start_pty(self, link: str | None = None, baud: int | None = None) -> str:
        """A serial port on a pseudo-terminal; returns the slave path. ``baud`` limits the
        byte rate to baud/10 bytes per second, like 8N1 serial."""
        if baud:
            with self.engine.lock:
                self.model.link_bytes_per_s = baud / 10
        if self.pty is None:
            self.pty = PtyTransport(self.engine, link)
            self.pty.start()
        return self.pty.path

    def unplug_pty(self) -> None:
        """The serial adapter disappears: the pty (and its ``link`` symlink) goes away, the
        host's open port hangs up. The printer itself keeps its state and its buffer."""
        if self.pty is not None:
            self.pty.stop()

    def replug_pty(self) -> str:
        """The adapter comes back: a new pty behind the same ``link`` (a new device node)."""
        if self.pty is None:
            raise EmulatorError("pty transport not started")
        if self.pty.link is None:
            raise EmulatorError("replug_pty needs start_pty(link=...): the path must stay")
        self.pty = PtyTransport(self.engine, self.pty.link)
        self.pty.start()
        return self.pty.path

    def start_control(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve the control line protocol; returns the port."""
        if self.control_server is None:
            self.control_server = control.ControlServer(self, host, port)
            self.control_server.start()
        return self.control_server.port

    @property
    def tcp_url(self) -> str:
        if self.tcp is None:
            raise EmulatorError("TCP transport not started")
        return f"tcp://{self.tcp.host}:{self.tcp.port}"

    @property
    def serial_url(self) -> str:
        if self.pty is None:
            raise EmulatorError("pty transport not started")
        return f"serial://{self.pty.link or self.pty.path}"

    # -- faults --------------------------------------------------------------------------------

    def inject(self, fault: str, **kw: Any) -> None:
        """Make a fault happen now: ``near_end``, ``paper_out``, ``cover_open``,
        ``cutter_error``, ``jam``, ``overheat`` (``duration_s``), ``unrecoverable``, ``silent``,
        ``drawer_open``, ``power_cycle`` (``off_s``), ``slow`` (``bytes_per_s``, ``mm_per_s``),
        ``garbage`` (``data`` or ``hex``), ``feed_button``, ``disconnect`` (TCP link drop).
        ``paper_out(after_mm=N)`` arms."""
        with self.engine.lock:
            self.model.inject(fault, self.engine.now(), **kw)

    def clear(self, fault: str) -> None:
        """End a fault as an operator would (``paper_out``: load paper; ``cover_open``: close)."""
        with self.engine.lock:
            self.model.clear(fault, self.engine.now())

    def arm(self, fault: str, **kw: Any) -> dict[str, Any]:
        """Inject later: ``after_bytes=N`` (more bytes received), ``after_mm=N`` (more paper),
        or ``on_cut=True`` (when the next cut is reached, before it is made)."""
        with self.engine.lock:
            return self.model.arm(fault, self.engine.now(), **kw).describe()

    def disarm(self, fault: str | None = None) -> int:
        with self.engine.lock:
            return self.model.disarm(fault)

    def power_cycle(self, off_s: float | None = None) -> None:
        kw = {} if off_s is None else {"off_s": off_s}
        self.inject("power_cycle", **kw)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def transcript(self) -> Transcript:
        """A copy of what has been printed so far."""
        with self.engine.lock:
            return self.model.transcript.copy()

    def reset(self) -> None:
        """Forget the transcript (the printer state is unchanged)."""
        with self.engine.lock:
            self.model.transcript.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.engine.lock:
            snap = self.model.snapshot()
        snap["connection"] = {
            "tcp": None if self.tcp is None else {
                "port": self.tcp.port, "connected": self.tcp.connected,
                "connections": self.tcp.connections},
            "pty": None if self.pty is None else {"path": self.pty.path, "link": self.pty.link},
            "active": self.engine.active,
        }
        return snap

    def command(self, line: str) -> str:
        """Run one control-protocol command in process; returns the reply line."""
        return control.execute(self, line)

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(entry)`` for every transcript entry as it prints."""
        with self.engine.lock:
            self.model.transcript.subscribe(listener)

    def wait(self, predicate: Callable[[Emulator], Any], timeout: float = 5.0) -> Any:
        """Poll ``predicate(self)`` until it is true; raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulator condition not met in {timeout}s")
            time.sleep(0.005)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until everything received has been printed (or printing is stopped)."""
        def idle(emu: Emulator) -> bool:
            s = emu.snapshot()
            drained = s["buffer"]["used"] == 0 and s["buffer"]["command"] is None
            return drained or not s["online"]
        self.wait(idle, timeout)

    # -- lifetime ------------------------------------------------------------------------------

    def stop(self) -> None:
        for part in (self.control_server, self.tcp, self.pty):
            if part is not None:
                part.stop()
        self.engine.stop()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
