"""The emulated printer for the benchmark, in its own process, with two probes.

It is `receiptd-emulator serve` (the same `Emulator`) plus timestamps: each receipt's first
line carries a tag (`BX` + system letter + 7 digits); this process reports, as JSON lines on
stdout with `time.monotonic()` (CLOCK_MONOTONIC is system-wide on Linux, so the benchmark
process can compare it with its own clock):

    {"ev": "first_byte", "tag": "BXr0000001", "t": ...}  the chunk with the tag reached the printer
    {"ev": "cut", "tag": "BXr0000001", "t": ...}         that receipt's cut has been printed

A tag's first byte is reported once per process, so a tag must name one receipt only:
bench/run.py hands out each tag letter once per printer (`Printer.tags`).

Running it out of the benchmark's process keeps its threads off the clients' GIL.

    python bench/emuproc.py --speed 250
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from receiptd.emulator import Emulator

TAG = re.compile(rb"BX[a-z]\d{7}")


def instrument(emu: Emulator, emit: Any) -> None:
    seen: set[bytes] = set()
    tail = b""
    feed = emu.engine.feed

    def probed_feed(source: str, data: bytes) -> int:
        nonlocal tail
        now = time.monotonic()
        for m in TAG.finditer(tail + data):
            tag = m.group()
            if tag not in seen:
                seen.add(tag)
                emit({"ev": "first_byte", "tag": tag.decode(), "t": now})
        n = feed(source, data)
        if n:
            tail = (tail + data[:n])[-12:]
        return n

    emu.engine.feed = probed_feed  # type: ignore[method-assign]
    current = {"tag": ""}

    def on_entry(entry: dict[str, Any]) -> None:
        if entry.get("type") == "text":
            m = TAG.search(str(entry.get("text", "")).encode())
            if m:
                current["tag"] = m.group().decode()
        elif entry.get("type") == "cut" and current["tag"]:
            emit({"ev": "cut", "tag": current["tag"], "t": time.monotonic()})
            current["tag"] = ""

    emu.subscribe(on_entry)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speed", type=float, default=250.0, help="print speed, mm/s")
    ap.add_argument("--buffer", type=int, default=4096)
    args = ap.parse_args(argv)
    out: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def writer() -> None:
        while (item := out.get()) is not None:
            sys.stdout.write(json.dumps(item) + "\n")
            sys.stdout.flush()

    threading.Thread(target=writer, daemon=True).start()
    emu = Emulator(speed_mm_s=args.speed, buffer_size=args.buffer)
    instrument(emu, out.put)
    tcp = emu.start_tcp()
    control = emu.start_control()
    out.put({"ev": "listening", "tcp": tcp, "control": control})
    try:
        sys.stdin.read()  # run until the benchmark closes our stdin
    finally:
        emu.stop()
        out.put(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
