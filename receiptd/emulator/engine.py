"""The model behind a lock, and the clock thread that keeps it printing.

Transports and the control port touch the model only through ``Engine``: one lock, one clock.
"""

from __future__ import annotations

import threading
import time

from receiptd.emulator.model import PrinterModel

TICK_S = 0.002


class Engine:
    def __init__(self, model: PrinterModel, tick_s: float = TICK_S) -> None:
        self.model = model
        self.lock = threading.RLock()
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The host interface that last sent data gets the replies (a printer has one reply
        # stream; with both TCP and the pty in use, replies follow whoever is talking).
        self.active: str | None = None

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emulator-clock", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self.lock:
                self.model.advance(self.now())

    def feed(self, source: str, data: bytes) -> int:
        with self.lock:
            n = self.model.feed(data, self.now())
            if n:
                self.active = source
            return n

    def take_output(self, source: str) -> bytes:
        with self.lock:
            if self.active not in (None, source):
                return b""
            return self.model.take_output()

    def connected(self, source: str) -> None:
        with self.lock:
            self.active = source
            self.model.host_connected()
