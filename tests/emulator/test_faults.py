"""The emulator's faults: status bytes in every fault, stopping and resuming, power, silence."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from receiptd.emulator import Emulator
from receiptd.emulator.model import PrinterConfig, PrinterModel

from ..emulator_helpers import CLEAR, CUT, GS, Host, pid


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator(speed_mm_s=1000.0, overheat_s=0.3, power_off_s=0.3)
    e.start_tcp()
    try:
        yield e
    finally:
        e.stop()


def receipt(tag: str, lines: int = 10) -> bytes:
    return (f"RECEIPT {tag}\n".encode() + b"".join(b"%s line %d\n" % (tag.encode(), i)
                                                  for i in range(lines)) + CUT)


# DLE EOT 1..4 and the ASB block in each fault (Epson bit tables; docs/PROTOCOL.md). A
# recoverable error (cutter, jam) sets ASB byte 2 bit 0, "waiting for online recovery", as it
# sets DLE EOT 1 bit 5 (Epson ESC/POS Command Reference, "GS a", second byte; "DLE EOT", n = 1).
FAULT_TABLE = [
    # fault,          n=1,  n=2,  n=3,  n=4,  ASB
    (None,            0x12, 0x12, 0x12, 0x12, "10 00 00 00"),
    ("near_end",      0x12, 0x12, 0x12, 0x1E, "10 00 03 00"),
    ("paper_out",     0x1A, 0x32, 0x12, 0x72, "18 00 0c 00"),
    ("cover_open",    0x1A, 0x16, 0x12, 0x12, "38 00 00 00"),
    ("cutter_error",  0x3A, 0x52, 0x1A, 0x12, "18 09 00 00"),
    ("jam",           0x3A, 0x52, 0x16, 0x12, "18 05 00 00"),
    ("overheat",      0x1A, 0x52, 0x52, 0x12, "18 40 00 00"),
    ("unrecoverable", 0x1A, 0x52, 0x32, 0x12, "18 20 00 00"),
    ("drawer_open",   0x16, 0x12, 0x12, 0x12, "14 00 00 00"),
]


@pytest.mark.parametrize(("fault", "s1", "s2", "s3", "s4", "asb"), FAULT_TABLE)
def test_status_bytes_in_each_fault(emu: Emulator, host: Host, fault: str | None, s1: int,
                                    s2: int, s3: int, s4: int, asb: str) -> None:
    host.send(GS + b"a\xff")
    assert host.read(4) == b"\x10\x00\x00\x00"
    if fault:
        emu.inject(fault, **({"duration_s": 30} if fault == "overheat" else {}))
        assert host.read(4).hex(" ") == asb  # ASB: sent unasked when the status changes
    assert [host.status(n) for n in (1, 2, 3, 4)] == [s1, s2, s3, s4]
    host.send(b"\x10\x14\x07\x01")  # DLE DC4 7 1: ASB now
    assert host.read(4).hex(" ") == asb
    # The two say the same about waiting for online recovery, whichever the host reads.
    assert bool(bytes.fromhex(asb)[1] & 0x01) == bool(s1 & 0x20)


def test_paper_out_mid_receipt_stops_there_and_resumes_after_load(emu: Emulator,
                                                                  host: Host) -> None:
    emu.inject("paper_out", after_mm=20)  # 20 mm = 5 lines of 30 dots
    host.send(GS + b"a\x0f" + receipt("A") + pid(b"000A"))
    assert host.read(4) == b"\x10\x00\x00\x00"
    assert host.read(4) == b"\x18\x00\x0c\x00"  # paper out, unasked
    assert host.status(4) == 0x72
    t = emu.transcript
    assert t.texts() == ["RECEIPT A"] + [f"A line {i}" for i in range(4)]
    assert t.events() == ["paper_out"]
    assert host.silent_for(0.1)  # no process ID: the receipt is not finished
    emu.clear("paper_out")  # paper loaded
    assert host.read(4) == b"\x10\x00\x00\x00"
    assert host.read_block() == b'7"000A\x00'
    slips = emu.transcript.slips()
    assert len(slips) == 2  # the rest of the receipt is on the new roll
    assert slips[1][0] == {"type": "event", "event": "paper_loaded"}
    assert [e.get("text") for e in slips[1][1:]] == [f"A line {i}" for i in range(4, 10)] + [None]
    assert slips[1][-1]["type"] == "cut"


def test_paper_out_fills_the_buffer_then_blocks_the_host(emu: Emulator, host: Host) -> None:
    emu.inject("paper_out")
    host.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    host.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        host.sock.sendall(b"x" * 2_000_000)
    assert emu.snapshot()["buffer"]["used"] == 4096
    assert emu.transcript.texts() == []


def test_clear_buffers_during_paper_out_throws_the_rest_away(emu: Emulator, host: Host) -> None:
    emu.arm("paper_out", after_mm=10)
    host.send(receipt("B") + pid(b"000B"))
    emu.wait(lambda e: "paper_out" in e.snapshot()["faults"])
    host.send(CLEAR)
    assert host.read_block() == b"7%\x00"
    emu.clear("paper_out")
    host.send(b"fresh\n" + pid(b"000C"))
    assert host.read_block() == b'7"000C\x00'  # 000B never answers
    assert "B line 9" not in emu.transcript.texts()


def test_cover_open_mid_print_stops_and_close_resumes(emu: Emulator, host: Host) -> None:
    emu.arm("cover_open", after_mm=12)
    host.send(receipt("C") + pid(b"000C"))
    emu.wait(lambda e: "cover_open" in e.snapshot()["faults"])
    assert emu.transcript.texts() == ["RECEIPT C", "C line 0", "C line 1"]
    assert host.status(2) == 0x16
    emu.clear("cover_open")
    assert host.read_block() == b'7"000C\x00'
    assert emu.transcript.texts()[-1] == "C line 9"
    assert emu.transcript.events() == ["cover_open", "cover_closed"]


@pytest.mark.parametrize(("fault", "bit"), [("cutter_error", 0x08), ("jam", 0x04)])
def test_recoverable_error_on_cut_and_dle_enq_1_retries(emu: Emulator, host: Host, fault: str,
                                                         bit: int) -> None:
    emu.arm(fault, on_cut=True)
    host.send(receipt("D", 2) + pid(b"000D"))
    emu.wait(lambda e: fault in e.snapshot()["faults"])
    assert host.status(3) == 0x12 | bit
    assert host.status(1) & 0x20  # waiting for online recovery
    assert "[CUT]" not in emu.transcript.text()  # the cut failed
    host.send(b"\x10\x05\x01")  # DLE ENQ 1: recover, redo the failed command
    assert host.read_block() == b'7"000D\x00'
    assert emu.transcript.slips()[0][-1] == {"type": "cut", "partial": False}
    assert host.status(3) == 0x12


def test_dle_enq_2_clears_buffers_and_recovers(emu: Emulator, host: Host) -> None:
    emu.arm("cutter_error", on_cut=True)
    host.send(receipt("E", 2) + pid(b"000E"))
    emu.wait(lambda e: "cutter_error" in e.snapshot()["faults"])
    host.send(b"\x10\x05\x02")
    host.send(b"next\n" + pid(b"000F"))
    assert host.read_block() == b'7"000F\x00'
    assert "[CUT]" not in emu.transcript.text()


def test_dle_enq_is_ignored_for_auto_recoverable_errors(emu: Emulator, host: Host) -> None:
    emu.inject("overheat", duration_s=0.3)
    host.send(b"hot\n" + pid(b"000G"))
    host.send(b"\x10\x05\x01")
    assert host.status(3) == 0x52
    start = time.monotonic()
    assert host.read_block() == b'7"000G\x00'
    assert time.monotonic() - start >= 0.15
    assert emu.transcript.events() == ["overheat", "cooled"]


def test_unrecoverable_error_needs_a_power_cycle(emu: Emulator, host: Host) -> None:
    emu.inject("unrecoverable")
    host.send(b"\x10\x05\x01")
    assert host.status(3) == 0x32
    assert emu.command("clear unrecoverable").startswith("error")
    emu.power_cycle(off_s=0.1)
    emu.wait(lambda e: e.snapshot()["powered"])
    assert emu.snapshot()["faults"] == []


def test_silent_printer_stops_reading_and_answering(emu: Emulator, host: Host) -> None:
    emu.inject("silent")
    host.send(b"\x10\x04\x01")
    assert host.silent_for(0.2)
    host.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    host.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        host.sock.sendall(b"y" * 2_000_000)  # the printer does not read: the write blocks
    assert emu.snapshot()["buffer"]["used"] == 0
    emu.clear("silent")
    assert host.read(1) == b"\x12"  # the status request is answered once it reads again


def test_power_cycle_drops_tcp_refuses_while_off_and_announces_itself(emu: Emulator,
                                                                       host: Host) -> None:
    assert emu.tcp is not None
    host.send(GS + b"a\xff")
    assert host.read(4) == b"\x10\x00\x00\x00"
    emu.inject("paper_out")
    assert host.read(4) == b"\x18\x00\x0c\x00"
    host.send(b"buffered\n" + pid(b"LOST"))
    emu.wait(lambda e: e.snapshot()["buffer"]["used"] > 0)
    emu.power_cycle(off_s=0.4)
    with pytest.raises((ConnectionError, OSError)):
        host.read(1, timeout=2)
    with pytest.raises((ConnectionError, OSError)):  # while off: dropped at once
        early = Host(emu.tcp.port)
        try:
            early.read(1, timeout=2)
        finally:
            early.close()
    emu.wait(lambda e: e.snapshot()["powered"], timeout=3)
    again = Host(emu.tcp.port)
    assert again.read(3) == b";1\x00"  # power-on notice: the buffer is gone
    assert again.silent_for(0.1)  # the ASB setting is gone too
    snap = emu.snapshot()
    assert snap["buffer"]["used"] == 0 and snap["asb"] == 0
    assert snap["faults"] == ["paper_out"]  # the roll did not refill itself
    emu.clear("paper_out")
    again.send(pid(b"0001"))
    assert again.read_block() == b'7"0001\x00'
    assert emu.transcript.events() == ["paper_out", "power_off", "power_on", "paper_loaded"]
    again.close()


@pytest.mark.parametrize(("fault", "taken"), [("power_cycle", 100), ("silent", 100),
                                              ("paper_out", 106)])
def test_arm_after_bytes_hits_the_exact_byte(emu: Emulator, host: Host, fault: str,
                                             taken: int) -> None:
    emu.arm(fault, after_bytes=100, **({"off_s": 5} if fault == "power_cycle" else {}))
    host.send(b"\x1b@" * 50 + b"after\n")  # 100 bytes that print nothing, then a line
    emu.wait(lambda e: e.snapshot()["bytes_received"] >= 100)
    time.sleep(0.1)
    assert emu.snapshot()["bytes_received"] == taken
    assert emu.transcript.texts() == []
    assert emu.transcript.events()[0] == {"power_cycle": "power_off"}.get(fault, fault)


def test_slow_printing_and_byte_rate(emu: Emulator, host: Host) -> None:
    emu.inject("slow", mm_per_s=100)
    start = time.monotonic()
    host.send(b"s\n" * 8 + pid(b"SLOW"))  # 30 mm at 100 mm/s
    assert host.read_block() == b'7"SLOW\x00'
    assert time.monotonic() - start >= 0.3
    emu.clear("slow")
    emu.inject("slow", bytes_per_s=2000)
    start = time.monotonic()
    host.send(b"b" * 1000 + b"\n" + pid(b"RATE"))
    assert host.read_block() == b'7"RATE\x00'
    assert time.monotonic() - start >= 0.4


def test_garbage_reaches_the_host(emu: Emulator, host: Host) -> None:
    emu.inject("garbage", data=b"\x00\xfe\x37")
    assert host.read(3) == b"\x00\xfe\x37"
    assert emu.transcript.events() == ["garbage"]


def offline_response(d: int) -> bytes:
    """GS ( H fn 49: d = 0/48 off, 1/49 on without the offline cause, 2/50 on with it."""
    return GS + b"(H\x03\x00\x31\x30" + bytes([d])


# The offline cause bytes are the model's own, but each lies in 40h-7Fh (Epson ESC/POS Command
# Reference, "GS ( H <Function 49>", the offline response): bit 6 set, bit 7 clear. This
# emulator's four bytes: why it stopped, recoverable, unrecoverable, auto-recoverable errors.
@pytest.mark.parametrize(("fault", "cause"), [
    ("cover_open", "41 40 40 40"), ("paper_out", "42 40 40 40"),
    ("cutter_error", "44 41 40 40"), ("jam", "44 42 40 40"),
    ("unrecoverable", "44 40 41 40"), ("overheat", "44 40 40 41"),
])
@pytest.mark.parametrize("d", [2, 50])
def test_offline_response_with_its_cause(emu: Emulator, host: Host, fault: str, cause: str,
                                         d: int) -> None:
    host.send(offline_response(d) + pid(b"0000"))
    assert host.read_block() == b'7"0000\x00'
    emu.inject(fault, **({"duration_s": 30} if fault == "overheat" else {}))
    block = host.read_block()
    assert block == b"7#" + bytes.fromhex(cause) + b"\x00"
    assert all(0x40 <= b <= 0x7F for b in block[2:-1])
    host.send(b"\x10\x14\x07\x04")  # DLE DC4 7 4: the offline response now, with the cause
    assert host.read_block() == block


@pytest.mark.parametrize("d", [1, 49])
def test_offline_response_without_its_cause(emu: Emulator, host: Host, d: int) -> None:
    host.send(offline_response(d) + pid(b"0000"))
    assert host.read_block() == b'7"0000\x00'
    emu.inject("cover_open")
    assert host.read_block() == b"7#\x00"


@pytest.mark.parametrize("d", [0, 48])
def test_offline_response_turned_off(emu: Emulator, host: Host, d: int) -> None:
    host.send(offline_response(2) + offline_response(d) + pid(b"0000"))
    assert host.read_block() == b'7"0000\x00'
    emu.inject("cover_open")
    assert host.silent_for(0.3)


def test_every_fault_is_an_event() -> None:
    model = PrinterModel(PrinterConfig(), now=0.0)
    pairs = [("near_end", "paper_near_end"), ("paper_out", "paper_out"),
             ("cover_open", "cover_open"), ("cutter_error", "cutter_error"), ("jam", "jam"),
             ("overheat", "overheat"), ("silent", "silent"), ("drawer_open", "drawer_open"),
             ("unrecoverable", "unrecoverable_error")]
    for fault, event in pairs:
        model.inject(fault, 0.0)
        assert model.transcript.events()[-1] == event
        if fault != "unrecoverable":
            model.clear(fault, 0.0)
            assert model.transcript.events()[-1] != event
    model.inject("power_cycle", 1.0, off_s=0.5)
    model.advance(2.0)
    assert model.transcript.events()[-2:] == ["power_off", "power_on"]
    assert model.take_output().endswith(b";1\x00")
