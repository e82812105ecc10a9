"""A hostile till cannot confirm prints for the printer, nor reach its real-time commands.

Through the real daemon process, the emulator on a real socket and a real journal file:

* the raw receipts that made the printer hand back a process ID of the till's choosing (Kanji
  mode reading ``81 30 1D 28`` as one character, ``GS k 04`` + 520 bytes without NUL) are refused
  at submit with a stable code, and nothing of them reaches the printer;
* a process-ID reply the daemon never issued (what such a receipt would produce, here sent by
  the emulated printer itself) confirms nothing: a 60-line receipt cut short by a power cycle
  after two lines is reprinted in full under its marker, never marked printed;
* with a CP1252 printer, whose prologue ends in ``ESC t 16``, a raw receipt cannot complete a
  real-time command with it (drawer pulse, buffer clear, power off).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from receiptd import protocol
from receiptd.emulator import Emulator

from ..support import DaemonProcess, is_marked, slips_with, wait_until

Factory = Callable[..., DaemonProcess]
H = bytes.fromhex


def b64(raw: bytes) -> dict[str, str]:
    return {"raw": base64.b64encode(raw).decode()}


def lines_document(tag: str, lines: int) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": f"{tag} LINE {i:02d}"}
                                    for i in range(1, lines + 1)]
    return {"blocks": [*blocks, {"type": "cut"}]}


def refused(daemon: DaemonProcess, raw: bytes) -> dict[str, str]:
    r = daemon.clients["pos"].post("/v1/printers/front/receipts", json=b64(raw))
    assert r.status_code == 422, (r.status_code, r.text)
    error: dict[str, str] = r.json()["error"]
    return error


def ready(daemon: DaemonProcess) -> None:
    daemon.wait_state("online", timeout=20)
    wait_until(lambda: daemon.printer()["confirmation"] == "process_id", timeout=20,
               what="process IDs probed")


def test_raw_receipts_that_hide_a_process_id_request_are_refused(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    ready(daemon)
    # The till aims at the next prints: before, their IDs were their print ids as a counter.
    hidden = b"".join(protocol.process_id(protocol.encode_pid(k)) for k in (2, 3))
    one = protocol.process_id(protocol.encode_pid(2))
    kanji = H("1c 26 81 30 1d 28 4b") + len(hidden).to_bytes(2, "little") + hidden + H("1c 2e")
    error = refused(daemon, kanji)
    assert error["code"] == "raw_double_byte_text", error
    assert "81 30 at offset 2" in error["message"] and "GB18030" in error["message"], error
    barcode = H("1d 6b 04") + b"A" * 520 + one + H("00")  # 520 bytes without NUL
    error = refused(daemon, barcode)
    assert error["code"] == "raw_bad_parameter", error
    assert "GS k 4 at offset 0" in error["message"], error
    # Nothing of them was journaled or printed: the next receipt is the first on paper and
    # is confirmed by the process ID the daemon gave it.
    r = daemon.clients["cashier"].get("/v1/receipts", params={"printer": "front"})
    assert r.status_code == 200 and r.json()["receipts"] == [], r.text
    ok = daemon.submit(b64(b"\x1b@NEXT RECEIPT\n\x1dV\x00"))
    done = daemon.wait_printed(ok["id"])
    assert [(p["state"], p["confirmation"]) for p in done["prints"]] == [
        ("printed", "process_id")]
    emulator.wait_idle(10)
    assert [e["text"] for e in emulator.transcript.entries() if e.get("type") == "text"] == [
        "NEXT RECEIPT"]
    assert daemon.printer()["link_counters"]["unissued_process_ids"] == 0


def test_a_forged_confirmation_cannot_mark_a_receipt_cut_short_printed(
    emulator: Emulator, daemon_factory: Factory
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    ready(daemon)
    # What a receipt's hidden GS ( H commands would make the printer send ahead of the next
    # prints: replies for the IDs a till could predict (the next print ids as a counter).
    forged = b"".join(b"\x37\x22" + protocol.encode_pid(k).encode() + b"\x00"
                      for k in range(1, 21))
    emulator.inject("garbage", data=forged)
    # The reply stream is read in order: once the near-end sent after them is seen, the
    # daemon has handled the forged replies.
    emulator.inject("near_end")
    daemon.wait_state("paper_near_end")
    emulator.clear("near_end")
    daemon.wait_state("online")
    # Hold the printer, queue the 60-line receipt, and cut its power two lines into it.
    emulator.inject("cover_open")
    daemon.wait_state("cover_open")
    receipt = daemon.submit({"document": lines_document("VICTIM", 60)})
    emulator.arm("power_cycle", after_mm=8)  # a line is 3.75 mm
    emulator.clear("cover_open")
    done = daemon.wait_printed(receipt["id"], timeout=60)
    prints = [(p["kind"], p["state"]) for p in done["prints"]]
    assert prints[0] == ("original", "interrupted"), done["prints"]
    assert ("interrupted_retry", "printed") in prints, done["prints"]
    assert all(p["confirmation"] == "process_id" for p in done["prints"]
               if p["state"] == "printed"), done["prints"]
    emulator.wait_idle(10)
    slips = slips_with(emulator, "VICTIM LINE 01")
    whole = [s for s in slips
             if sum(e.get("type") == "text" and "VICTIM LINE" in e["text"] for e in s) == 60]
    assert len(whole) == 1 and is_marked(whole[0]), slips
    assert daemon.printer()["link_counters"]["unissued_process_ids"] == 20


def test_a_cp1252_printer_runs_no_real_time_command_from_raw(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path
) -> None:
    emulator.start_tcp()
    config = tmp_path / "cp1252.toml"
    config.write_text(
        "[daemon]\nwire_log = true\n\n"
        "[printers.front]\nurl = \"tcp://127.0.0.1:9\"\n\n"
        "[printers.front.profile_overrides]\nencoding = \"CP1252\"\n"
    )
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--config", str(config)])
    ready(daemon)
    # After ESC t 16 (1B 74 10) these first bytes were DLE DC4 1 (drawer pulse), DLE DC4 8
    # (clear the buffers) and DLE EOT 1.
    for raw in (H("14 01 00 05") + b"X\n", H("14 08 01 03 14 01 06 02 08") + b"X\n",
                H("04 01") + b"X\n"):
        error = refused(daemon, raw)
        assert error["code"] == "raw_realtime_sequence", error
        assert f"first byte {raw[0]:02X}" in error["message"], error
    # A CP1252 raw receipt prints as written, and the daemon's bytes keep the junction safe.
    ok = daemon.submit(b64(b"Caf\xe9 4,50 \x80\n\x1dV\x00"))
    daemon.wait_printed(ok["id"])
    emulator.wait_idle(10)
    entries = emulator.transcript.entries()
    assert [e["text"] for e in entries if e.get("type") == "text"] == ["Café 4,50 €"]
    assert not [e for e in entries if e.get("type") == "drawer"], entries
    assert "buffer_cleared" not in emulator.transcript.events()
    sent = b"".join(
        bytes.fromhex(m.group(1)) for m in re.finditer(
            r" wire \S+ > \d+ ([0-9a-f ]+)$", daemon.log_path.read_text(errors="replace"),
            re.M))
    assert H("1b 40 1b 74 10 1b 32") + b"Caf\xe9" in sent, sent.hex(" ")
