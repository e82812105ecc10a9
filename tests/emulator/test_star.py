"""The emulator's Star dialect: Star Line Mode over real TCP and pty connections.

Byte sequences are written out by hand from Star Micronics' "STAR Line Mode Command
Specifications" (Rev 1.12), never built with ``receiptd.protocol``; the status bytes asserted
here are the table in docs/STAR.md (section 5.2, "Appendix 2: Status Specifications").
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiptd.emulator import Emulator
from receiptd.emulator.star_commands import StarFramer, decode

from ..emulator_helpers import Host

ESC = b"\x1b"
INIT = ESC + b"@"
ASB_ON = ESC + b"\x1ea\x01"  # ESC RS a 1
ASB_REQUEST = ESC + b"\x06\x01"  # ESC ACK SOH
RESET = ESC + b"\x06\x18"  # ESC ACK CAN
ETB = b"\x17"
ENQ, EOT = b"\x05", b"\x04"
ETB_INIT = ESC + b"\x1eE\x00"  # ESC RS E 0
FULL_CUT = ESC + b"d\x02"  # ESC d 2: feed to the cutting position, full cut
PARTIAL_CUT = ESC + b"d\x03"  # ESC d 3: feed, partial cut
VERSION = ESC + b"#*\n\x00"  # ESC # * LF NUL

IDLE = "23 06 00 00 00 00 00 00 00"


def etb_byte(n: int) -> int:
    """Printer status 6 (8th byte): counter bits 0-2 in bits 1-3, bits 3-4 in bits 5-6."""
    return ((n & 7) << 1) | ((n >> 3) << 5)


def asb(s1: int = 0, s2: int = 0, s4: int = 0, etb: int = 0) -> str:
    return bytes([0x23, 0x06, s1, s2, 0, s4, 0, etb_byte(etb), 0]).hex(" ")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator(speed_mm_s=1000.0, overheat_s=0.3, power_off_s=0.3, dialect="star")
    e.start_tcp()
    try:
        yield e
    finally:
        e.stop()


def read_asb(host: Host) -> str:
    return host.read(9).hex(" ")


def asb_now(host: Host) -> str:
    host.send(ASB_REQUEST)
    return read_asb(host)


def lines(tag: str, n: int) -> bytes:
    return b"".join(b"%s line %d\n" % (tag.encode(), i) for i in range(n))


# -- the decoder ----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "raster", "name", "header", "payload"), [
    (ESC + b"i\x01\x01", False, "expand", 4, 0),
    (ESC + b"\x1da\x01", False, "align", 4, 0),
    (ESC + b"d\x03", False, "cut", 3, 0),
    (ESC + b"\x1ea\x01", False, "asb", 4, 0),
    (ESC + b"b\x06\x02\x02\x50{B123\x1e", False, "barcode", 12, 0),
    (ESC + b"\x1dyD1\x00\x05\x00hello", False, "qr_data", 8, 5),
    (ESC + b"\x1dyS1\x02", False, "qr_setting", 6, 0),
    (ESC + b"*rA", False, "raster_enter", 4, 0),
    (ESC + b"*rE13\x00", True, "raster_setting", 7, 0),
    (b"b\x48\x00", True, "raster_line", 3, 72),
    (b"b\x48\x00", False, "text", 2, 0),  # outside raster mode: the text "bH"
    (ESC + b"k\x02\x00", False, "bit_image", 4, 48),
    (ESC + b"X\x10\x00", False, "bit_image", 4, 48),
    (ESC + b"#*\n\x00", False, "version_request", 5, 0),
    (ESC + b"\x1d(A\x02\x00", False, "paren", 6, 2),
    (ESC + b"\x06\x01", False, "realtime", 3, 0),
    (ESC + b"\xff", False, "unknown", 2, 0),
])
def test_decoder_lengths(data: bytes, raster: bool, name: str, header: int,
                         payload: int) -> None:
    cmd = decode(data, raster)
    assert cmd is not None
    assert (cmd.name, len(cmd.header), cmd.payload_len) == (name, header, payload)


@pytest.mark.parametrize("partial", [ESC, ESC + b"i\x01", ESC + b"b\x06\x02\x02\x50123",
                                     ESC + b"*rE1", ESC + b"\x1dy"])
def test_decoder_waits_for_incomplete_commands(partial: bytes) -> None:
    assert decode(partial) is None


def test_framer_finds_real_time_commands_only_where_a_command_starts() -> None:
    f = StarFramer()
    image = ESC + b"*rA" + b"b\x03\x00\x04\x05\x1b" + b"b\x03\x00\x06\x01\x05"
    assert f.push(image) == []  # 04, 05, ESC ACK SOH inside raster lines are data
    assert f.push(ESC + b"*rB" + ENQ + b"x" + EOT) == [(5, ENQ), (7, EOT)]
    f2 = StarFramer()
    assert f2.push(b"abc" + ESC) == []
    assert f2.push(b"\x06\x01") == [(2, ASB_REQUEST)]  # split across two reads


# -- ASB, ENQ, EOT in each state -------------------------------------------------------------


# fault, ASB (9 bytes), ENQ, EOT. Star Line Mode Command Specifications 5.2.3 (ASB printer
# status 1-6), 5.2.1 (ENQ: bit 3 paper end, bit 2 "other errors" = unrecoverable or cover
# open, bit 7 compulsion switch) and 5.2.2 (EOT: bit 4 always 1, bit 3 paper end, bit 2 near
# end, bit 7 compulsion switch).
FAULT_TABLE = [
    (None, IDLE, 0x00, 0x10),
    ("near_end", asb(s4=0x04), 0x00, 0x14),
    ("paper_out", asb(s1=0x08, s4=0x08), 0x08, 0x18),
    ("cover_open", asb(s1=0x28), 0x04, 0x10),
    ("cutter_error", asb(s1=0x08, s2=0x08), 0x00, 0x10),
    ("jam", asb(s1=0x08, s2=0x04), 0x00, 0x10),
    ("overheat", asb(s1=0x08, s2=0x40), 0x00, 0x10),
    ("unrecoverable", asb(s1=0x08, s2=0x20), 0x04, 0x10),
    ("drawer_open", asb(s1=0x04), 0x80, 0x90),
]


@pytest.mark.parametrize(("fault", "block", "enq", "eot"), FAULT_TABLE)
def test_status_bytes_in_each_fault(emu: Emulator, host: Host, fault: str | None, block: str,
                                    enq: int, eot: int) -> None:
    host.send(ASB_ON)
    assert read_asb(host) == IDLE  # one block when ASB is turned on
    if fault:
        emu.inject(fault, **({"duration_s": 30} if fault == "overheat" else {}))
        assert read_asb(host) == block  # sent unasked when the status changes
    assert asb_now(host) == block  # ESC ACK SOH: the same block on request
    host.send(ENQ)
    assert host.read(1)[0] == enq
    host.send(EOT)
    assert host.read(1)[0] == eot
    assert emu.snapshot()["dialect"] == "star"


def test_asb_stays_on_over_the_lan(emu: Emulator, host: Host) -> None:
    # "The command is ignored (set to enable auto-status) when using Ethernet": the TCP port is
    # the printer's LAN interface, so blocks come unasked without ESC RS a 1 ...
    emu.inject("paper_out")
    assert read_asb(host) == asb(s1=0x08, s4=0x08)
    host.send(ESC + b"\x1ea\x00")  # ... and ESC RS a 0 leaves ASB on (one block answers it,
    emu.clear("paper_out")  # once the printer reads it: not while it is out of paper)
    assert read_asb(host) == IDLE
    assert read_asb(host) == IDLE
    emu.inject("cover_open")
    assert read_asb(host) == asb(s1=0x28)
    assert emu.snapshot()["asb"] == 1


def test_fault_clears_send_a_block_and_overheat_recovers_by_itself(emu: Emulator,
                                                                  host: Host) -> None:
    host.send(ASB_ON)
    assert read_asb(host) == IDLE
    emu.inject("overheat", duration_s=0.2)
    assert read_asb(host) == asb(s1=0x08, s2=0x40)
    assert read_asb(host) == IDLE  # cooled down, unasked
    emu.inject("cover_open")
    assert read_asb(host) == asb(s1=0x28)
    emu.clear("cover_open")
    assert read_asb(host) == IDLE
    assert emu.transcript.events() == ["overheat", "cooled", "cover_open", "cover_closed"]


# -- the ETB counter -------------------------------------------------------------------------


def test_etb_counts_when_the_printer_reaches_it(emu: Emulator, host: Host) -> None:
    host.send(ASB_ON)
    assert read_asb(host) == IDLE
    emu.inject("cover_open")  # hold the head: nothing prints, nothing is reached
    assert read_asb(host) == asb(s1=0x28)
    before = emu.snapshot()["bytes_received"]
    host.send(b"first\n" + ETB + b"second\n" + ETB)
    emu.wait(lambda e: e.snapshot()["bytes_received"] == before + 15)
    assert asb_now(host) == asb(s1=0x28)  # both ETBs are in the buffer: counter still 0
    assert emu.transcript.texts() == []
    emu.clear("cover_open")
    assert read_asb(host) == IDLE  # the cover closed
    # Each ETB, when reached: the ETB bit (status 1 bit 1) and the counter, in one block.
    assert read_asb(host) == asb(s1=0x02, etb=1)
    assert read_asb(host) == asb(s1=0x02, etb=2)
    assert emu.transcript.texts() == ["first", "second"]
    assert asb_now(host) == asb(etb=2)  # the ETB bit was cleared once sent
    assert emu.snapshot()["etb_counter"] == 2


def test_etb_waits_behind_a_slow_print(emu: Emulator, host: Host) -> None:
    emu.inject("slow", mm_per_s=1)  # 4 mm a line: the first line takes 4 s
    host.send(b"slow line\n" + ETB)
    emu.wait(lambda e: e.snapshot()["bytes_received"] == 11)
    assert asb_now(host) == IDLE  # received, not reached
    assert emu.snapshot()["etb_counter"] == 0
    emu.clear("slow")
    assert read_asb(host) == asb(s1=0x02, etb=1)  # sent when reached
    assert emu.transcript.texts() == ["slow line"]
    assert asb_now(host) == asb(etb=1)  # the ETB bit was cleared once sent


def test_etb_counter_wraps_at_32_and_esc_rs_e_clears_it_without_a_block(emu: Emulator,
                                                                        host: Host) -> None:
    host.send(ETB * 33)
    blocks = [read_asb(host) for _ in range(33)]
    assert blocks == [asb(s1=0x02, etb=(i + 1) % 32) for i in range(33)]
    host.send(ETB_INIT)
    emu.wait(lambda e: e.snapshot()["etb_counter"] == 0)
    host.send(ASB_REQUEST + EOT)
    assert read_asb(host) == IDLE  # the next bytes are the answers: ESC RS E sent no block
    assert host.read(1) == b"\x10"


def test_can_clears_the_line_and_the_etb_counter(emu: Emulator, host: Host) -> None:
    host.send(ETB + b"never printed" + b"\x18" + b"kept\n")
    emu.wait(lambda e: e.transcript.texts() == ["kept"])
    assert emu.snapshot()["etb_counter"] == 0


def test_power_cycle_resets_the_etb_counter_and_asb(emu: Emulator, host: Host) -> None:
    host.send(ASB_ON + ETB + ETB)
    assert read_asb(host) == IDLE
    assert read_asb(host) == asb(s1=0x02, etb=1)
    assert read_asb(host) == asb(s1=0x02, etb=2)
    emu.power_cycle(off_s=0.2)
    with pytest.raises(ConnectionError):
        host.read(1, timeout=3)
    emu.wait(lambda e: e.snapshot()["powered"])
    host2 = Host(emu.tcp.port if emu.tcp else 0)
    try:
        assert asb_now(host2) == IDLE  # counter 0 again
        assert emu.snapshot()["etb_counter"] == 0
        assert emu.transcript.events()[-2:] == ["power_off", "power_on"]
    finally:
        host2.close()


# -- printing stops in faults ----------------------------------------------------------------


def test_paper_out_mid_receipt_stops_there_and_resumes_after_load(emu: Emulator,
                                                                  host: Host) -> None:
    emu.arm("paper_out", after_mm=20)  # 20 mm = 5 lines of 4 mm
    host.send(ASB_ON + lines("A", 10) + PARTIAL_CUT + ETB)
    assert read_asb(host) == IDLE
    assert read_asb(host) == asb(s1=0x08, s4=0x08)
    assert emu.transcript.texts() == [f"A line {i}" for i in range(5)]
    assert asb_now(host) == asb(s1=0x08, s4=0x08)  # the ETB is not reached
    emu.clear("paper_out")
    assert read_asb(host) == IDLE
    assert read_asb(host) == asb(s1=0x02, etb=1)
    slips = emu.transcript.slips()
    assert slips[1][0] == {"type": "event", "event": "paper_loaded"}
    assert [e.get("text") for e in slips[1][1:-1]] == [f"A line {i}" for i in range(5, 10)]
    assert slips[1][-1] == {"type": "cut", "partial": True}


def test_cover_opened_after_n_bytes_stops_the_receipt_there(emu: Emulator, host: Host) -> None:
    emu.inject("slow", mm_per_s=20)  # 0.2 s a line: the cover opens before the end
    emu.arm("cover_open", after_bytes=len(b"B line 0\n") * 3)
    host.send(lines("B", 10) + ETB)
    assert read_asb(host) == asb(s1=0x28)
    emu.clear("slow")
    assert len(emu.transcript.texts()) < 10  # stopped mid-receipt, the ETB not reached
    assert asb_now(host) == asb(s1=0x28)
    emu.clear("cover_open")
    assert read_asb(host) == IDLE
    assert read_asb(host) == asb(s1=0x02, etb=1)
    assert emu.transcript.texts() == [f"B line {i}" for i in range(10)]


def test_near_end_warns_and_keeps_printing(emu: Emulator, host: Host) -> None:
    host.send(ASB_ON)
    assert read_asb(host) == IDLE
    emu.inject("near_end")
    assert read_asb(host) == asb(s4=0x04)
    host.send(b"still printing\n" + ETB)
    assert read_asb(host) == asb(s1=0x02, s4=0x04, etb=1)
    assert emu.transcript.texts() == ["still printing"]


@pytest.mark.parametrize(("fault", "s2"), [("cutter_error", 0x08), ("jam", 0x04)])
def test_error_on_cut_stops_before_the_cut_and_recovery_makes_it(emu: Emulator, host: Host,
                                                                 fault: str, s2: int) -> None:
    emu.arm(fault, on_cut=True)
    host.send(ASB_ON + b"before\n" + FULL_CUT + b"after\n")
    assert read_asb(host) == IDLE
    assert read_asb(host) == asb(s1=0x08, s2=s2)
    assert emu.transcript.texts() == ["before"]
    assert all(e["type"] != "cut" for e in emu.transcript.entries())
    assert emu.command("recover") == "ok"
    assert read_asb(host) == IDLE
    emu.wait(lambda e: "after" in e.transcript.texts())
    kinds = [e["type"] for e in emu.transcript.entries()]
    assert kinds == ["text", "event", "event", "cut", "text"]


def test_on_cut_fires_before_a_raster_page_that_cuts(emu: Emulator, host: Host) -> None:
    emu.arm("cutter_error", on_cut=True)
    page = ESC + b"*rA" + ESC + b"*rE1\x00" + b"b\x01\x00\xff" * 4 + ESC + b"\x0c\x04"
    host.send(page + ESC + b"*rE13\x00" + ESC + b"\x0c\x04" + ESC + b"*rB")
    assert read_asb(host) == asb(s1=0x08, s2=0x08)  # at the second ESC FF EOT (mode 13)
    assert emu.transcript.entries() == [{"type": "image", "width": 8, "height": 4},
                                        {"type": "event", "event": "cutter_error"}]
    assert emu.command("recover") == "ok"
    assert read_asb(host) == IDLE
    emu.wait(lambda e: e.transcript.entries()[-1] == {"type": "cut", "partial": True})


def test_esc_ack_can_resets_the_printer_on_arrival(emu: Emulator, host: Host) -> None:
    host.send(INIT + b"\x0e" + ETB)  # double width on; the counter goes to 1
    assert read_asb(host) == asb(s1=0x02, etb=1)
    emu.arm("cutter_error", on_cut=True)
    host.send(b"x\n" + FULL_CUT + b"lost\n")
    assert read_asb(host) == asb(s1=0x08, s2=0x08, etb=1)
    host.send(RESET)  # run on arrival, though printing is stopped
    emu.wait(lambda e: "reset" in e.transcript.events())
    assert asb_now(host) == asb(s1=0x08, s2=0x08)  # counter 0; the error is still there
    assert emu.command("recover") == "ok"
    assert read_asb(host) == IDLE
    host.send(b"fresh\n")
    emu.wait(lambda e: "fresh" in e.transcript.texts())
    entries = emu.transcript.entries()
    assert [e.get("text") for e in entries if e["type"] == "text"] == ["x", "fresh"]
    assert entries[-1]["size"] == [1, 1]  # the print mode was reset too
    assert all(e["type"] != "cut" for e in entries)  # the cut was in the dropped buffer


def test_a_full_buffer_still_answers_real_time_commands() -> None:
    with Emulator(buffer_size=64, speed_mm_s=1000.0, dialect="star") as e:
        h = Host(e.start_tcp())
        e.wait(lambda emu: emu.tcp is not None and emu.tcp.connected)
        try:
            e.inject("paper_out")
            assert read_asb(h) == asb(s1=0x08, s4=0x08)
            h.send(b"a" * 63 + b"\n")
            e.wait(lambda emu: emu.snapshot()["buffer"]["used"] == 64)
            h.send(EOT + ASB_REQUEST)  # no room in the buffer: answered all the same
            assert h.read(1) == b"\x18"
            assert read_asb(h) == asb(s1=0x08, s4=0x08)
            h.send(RESET + b"after\n")  # the reset empties the buffer; the rest gets in
            e.wait(lambda emu: emu.snapshot()["buffer"]["used"] == 6)
            e.clear("paper_out")
            e.wait(lambda emu: "after" in emu.transcript.texts())
            assert e.transcript.texts() == ["after"]  # the 63 a were thrown away
        finally:
            h.close()


def test_unrecoverable_error_only_ends_with_a_power_cycle(emu: Emulator, host: Host) -> None:
    host.send(ASB_ON)
    assert read_asb(host) == IDLE
    emu.inject("unrecoverable")
    assert read_asb(host) == asb(s1=0x08, s2=0x20)
    assert emu.command("clear unrecoverable").startswith("error")
    host.send(b"held\n")
    assert asb_now(host) == asb(s1=0x08, s2=0x20)
    assert "held" not in emu.transcript.texts()
    emu.power_cycle(off_s=0.1)
    emu.wait(lambda e: e.snapshot()["powered"] and not e.snapshot()["faults"])


def test_silent_printer_reads_and_answers_nothing_until_it_wakes(emu: Emulator,
                                                                host: Host) -> None:
    emu.inject("silent")
    received = emu.snapshot()["bytes_received"]
    host.send(EOT)
    assert host.silent_for(0.2)
    assert emu.snapshot()["bytes_received"] == received
    emu.clear("silent")
    assert host.read(1) == b"\x10"


def test_garbage_and_disconnect(emu: Emulator, host: Host) -> None:
    emu.inject("garbage", hex="ff 00 7f")
    assert host.read(3) == b"\xff\x00\x7f"
    emu.inject("disconnect")
    with pytest.raises((ConnectionError, OSError)):
        host.read(1)
    again = Host(emu.tcp.port if emu.tcp else 0)
    try:
        assert asb_now(again) == IDLE
    finally:
        again.close()


# -- what comes out on paper -----------------------------------------------------------------


def test_transcript_of_a_star_receipt(emu: Emulator, host: Host) -> None:
    receipt = (
        INIT
        + ESC + b"\x1da\x01" + ESC + b"E" + b"MY SHOP\n" + ESC + b"F"  # centred, emphasised
        + ESC + b"\x1da\x00" + ESC + b"i\x01\x01" + b"BIG\n" + ESC + b"i\x00\x00"
        + ESC + b"-\x01" + b"under\n" + ESC + b"-\x00"
        + ESC + b"4" + b"inverse\n" + ESC + b"5"
        + b"\x0e" + b"wide\n" + b"\x14"
        + ESC + b"\x1da\x02" + b"3.20\n" + ESC + b"\x1da\x00"
        + ESC + b"\x1dt\x20" + b"\x80 5\n"  # ESC GS t 32: code page 1252, 80h is the euro
        + ESC + b"a\x02"  # feed two lines
        + ESC + b"b\x06\x02\x02\x50%612345%0\x1e"  # CODE128: start code B, "12345%"
        + ESC + b"\x1dyS0\x02" + ESC + b"\x1dyS1\x01" + ESC + b"\x1dyS2\x04"
        + ESC + b"\x1dyD1\x00\x13\x00https://example.com" + ESC + b"\x1dyP"
        + b"\x07" + b"\x1a"  # drawer 1 (BEL), drawer 2 (SUB)
        + ESC + b"*rA" + b"b\x48\x00" + b"\xff" * 72 + b"b\x48\x00" + b"\x0f" * 72
        + ESC + b"*rY10\x00" + b"b\x01\x00\x80" + ESC + b"*rD1\x00"  # feed 10 rows, drawer 1
        + ESC + b"*rB"  # two rows 576 dots wide, then one row 8 dots wide
        + (ESC + b"k\x02\x00" + b"\x00" * 48 + ESC + b"J\x0c") * 2  # two 16x24 bands
        + ESC + b"\xfe"  # not a Star command
        + FULL_CUT + b"second\n" + PARTIAL_CUT
    )
    host.send(receipt)
    emu.wait(lambda e: "[PARTIAL CUT]" in e.transcript.text())
    slips = emu.transcript.slips()
    entries = slips[0]
    texts = [e for e in entries if e["type"] == "text"]
    assert texts[0] == {"type": "text", "text": "MY SHOP", "align": "center", "bold": True,
                        "underline": 0, "size": [1, 1], "highlight": False}
    assert (texts[1]["text"], texts[1]["size"]) == ("BIG", [2, 2])
    assert (texts[2]["text"], texts[2]["underline"]) == ("under", 1)
    assert (texts[3]["text"], texts[3]["highlight"]) == ("inverse", True)
    assert (texts[4]["text"], texts[4]["size"]) == ("wide", [2, 1])
    assert (texts[5]["text"], texts[5]["align"]) == ("3.20", "right")
    assert texts[6]["text"] == "€ 5"
    assert [t["text"] for t in texts[7:9]] == ["", ""]  # ESC a 2
    rest = [e for e in entries if e["type"] != "text"]
    assert rest == [
        {"type": "barcode", "symbology": "CODE128", "data": "12345%"},
        {"type": "qr", "data": "https://example.com"},
        {"type": "drawer", "pin": 2},
        {"type": "drawer", "pin": 5},
        {"type": "image", "width": 576, "height": 2},
        {"type": "drawer", "pin": 2},
        {"type": "image", "width": 8, "height": 1},
        {"type": "image", "width": 16, "height": 48, "stripes": True},
        {"type": "unknown", "bytes": "1B FE"},
        {"type": "cut", "partial": False},
    ]
    assert slips[1] == [
        {"type": "text", "text": "second", "align": "left", "bold": False, "underline": 0,
         "size": [1, 1], "highlight": False},
        {"type": "cut", "partial": True},
    ]
    text = emu.transcript.text()
    assert "[BARCODE CODE128 12345%]" in text and "[QR https://example.com]" in text
    assert "[IMAGE 576x2]" in text and "[CUT]" in text and "[PARTIAL CUT]" in text


def test_raster_eot_mode_cuts_and_status_bytes_in_image_data_are_data(emu: Emulator,
                                                                     host: Host) -> None:
    data = b"\x04\x05\x1b\x06\x01\x17\x04\x05"  # EOT, ENQ, ESC ACK SOH, ETB: all image data
    host.send(ESC + b"*rA" + ESC + b"*rE9\x00" + (b"b\x08\x00" + data) * 3 + ESC + b"\x0c\x04"
              + ESC + b"*rB" + VERSION)
    # The first bytes back are the version: nothing inside the raster lines was answered.
    assert host.read(len(b"\x1b#*,TSP143IIIU Ver1.0\n\x00")) == b"\x1b#*,TSP143IIIU Ver1.0\n\x00"
    assert emu.transcript.entries() == [
        {"type": "image", "width": 64, "height": 3},
        {"type": "cut", "partial": False},  # EOT mode 9: feed and full cut
    ]
    assert emu.snapshot()["etb_counter"] == 0


def test_identity_answer(emu: Emulator, host: Host) -> None:
    host.send(VERSION)
    assert host.read_block() == b"\x1b#*,TSP143IIIU Ver1.0\n\x00"


def test_identity_is_configurable() -> None:
    with Emulator(dialect="star", star_version="MCP31 Ver1.2") as e:
        h = Host(e.start_tcp())
        try:
            h.send(VERSION)
            assert h.read_block() == b"\x1b#*,MCP31 Ver1.2\n\x00"
        finally:
            h.close()


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        Emulator(dialect="zpl")


def test_control_status_shows_the_dialect(emu: Emulator, host: Host) -> None:
    host.send(ASB_ON + ETB)
    assert read_asb(host) == IDLE
    assert read_asb(host) == asb(s1=0x02, etb=1)
    status = json.loads(emu.command("status"))
    assert (status["dialect"], status["etb_counter"], status["asb"]) == ("star", 1, 1)


# -- the serial port and the CLI -------------------------------------------------------------


def _pty_read(fd: int, n: int, timeout: float = 3.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            out += os.read(fd, n - len(out))
    return out


def _open_pty(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


def test_pty_serial_port_asb_and_unplug(tmp_path: Path) -> None:
    link = str(tmp_path / "ttySTAR")
    with Emulator(speed_mm_s=2000.0, dialect="star") as e:
        e.start_pty(link)
        fd = _open_pty(link)
        try:
            os.write(fd, ETB + EOT)  # the serial port: ASB is off until ESC RS a 1
            assert _pty_read(fd, 1) == b"\x10"  # only the EOT answer: no block for the ETB
            e.wait(lambda emu: emu.snapshot()["etb_counter"] == 1)
            os.write(fd, ASB_REQUEST)
            assert _pty_read(fd, 9).hex(" ") == asb(s1=0x02, etb=1)
            os.write(fd, ASB_ON + b"serial hello\n" + ETB)
            assert _pty_read(fd, 18).hex(" ") == asb(etb=1) + " " + asb(s1=0x02, etb=2)
            assert "serial hello" in e.transcript.texts()
            e.inject("paper_out")
            assert _pty_read(fd, 9).hex(" ") == asb(s1=0x08, s4=0x08, etb=2)
        finally:
            os.close(fd)
        e.unplug_pty()
        assert not os.path.lexists(link)
        e.replug_pty()
        fd = _open_pty(link)
        try:
            os.write(fd, ENQ)
            assert _pty_read(fd, 1) == b"\x08"  # the printer kept its state: paper out
            e.power_cycle(off_s=0.1)
            e.wait(lambda emu: emu.snapshot()["powered"])
            # Bytes that reach the port while the power comes back may be lost, as on a real
            # serial line: ask again until the printer answers (bounded).
            reply = b""
            for _ in range(20):
                os.write(fd, ASB_REQUEST)
                reply = _pty_read(fd, 9, timeout=0.25)
                if reply:
                    break
            assert reply.hex(" ") == asb(s1=0x08, s4=0x08)  # no notice first; counter 0
            assert e.snapshot()["asb"] == 0  # the serial port: off again until ESC RS a 1
        finally:
            os.close(fd)


def test_pty_a_short_power_cycle_keeps_the_port_and_loses_the_held_etbs(tmp_path: Path) -> None:
    """A serial line does not hang up when the printer loses power: the same open port goes
    on working, the ETBs the printer still held are gone, and the counter is 0 again (the
    case ``printer.etb`` must tell from progress)."""
    link = str(tmp_path / "ttySTAR")
    with Emulator(speed_mm_s=2000.0, dialect="star") as e:
        e.start_pty(link)
        fd = _open_pty(link)
        try:
            os.write(fd, ETB * 29)
            e.wait(lambda emu: emu.snapshot()["etb_counter"] == 29)
            e.inject("cover_open")  # the head stops: what follows waits in the buffer
            os.write(fd, b"held\n" + ETB * 3)  # would take the counter to 0 (32)
            e.wait(lambda emu: emu.snapshot()["buffer"]["used"] > 0)
            os.write(fd, ASB_REQUEST)
            assert _pty_read(fd, 9).hex(" ") == asb(s1=0x28 | 0x02, etb=29)  # ETBs reached, unsent
            e.power_cycle(off_s=0.0)  # back at once: nothing in between to lose on the line
            e.clear("cover_open")
            os.write(fd, ASB_REQUEST)
            assert _pty_read(fd, 9).hex(" ") == asb()  # counter 0, no ETB bit, no notice
            assert "held" not in e.transcript.texts()
            assert e.snapshot()["etb_counter"] == 0 and e.snapshot()["asb"] == 0
            os.write(fd, ETB)  # the same port, still open, counts from 0
            e.wait(lambda emu: emu.snapshot()["etb_counter"] == 1)
        finally:
            os.close(fd)


def test_cli_serve_star(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "receiptd.emulator"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    serve = [*cmd, "serve", "--dialect", "star", "--tcp", "127.0.0.1:0", "--control",
             "127.0.0.1:0", "--speed", "2000", "--star-version", "TSP143IVUE Ver2.1"]
    proc = subprocess.Popen(serve, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        h = Host(int(info["tcp"].rsplit(":", 1)[1]))
        h.send(b"from the CLI\n" + FULL_CUT + VERSION)
        assert proc.stdout.readline().strip() == "from the CLI"
        assert proc.stdout.readline().strip() == "[CUT]"
        assert h.read_block() == b"\x1b#*,TSP143IVUE Ver2.1\n\x00"
        status = subprocess.run([*cmd, "ctl", "--control", info["control"], "status"],
                                capture_output=True, text=True, env=env, timeout=20)
        assert json.loads(status.stdout)["dialect"] == "star"
        h.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
