"""The printer emulator: byte handling, replies, transcript, transports, CLI.

Real sockets and a real pty on 127.0.0.1; byte sequences written out from the Epson reference,
not built with ``receiptd.protocol`` (the emulator must not share the daemon's mistakes).
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiptd.emulator import Emulator, Transcript
from receiptd.emulator.commands import RealtimeScanner, decode, realtime_length
from receiptd.emulator.model import PrinterConfig, PrinterModel

from ..emulator_helpers import CLEAR, CUT, ESC, GS, INIT, Host, pid


def qr(data: bytes) -> bytes:
    n = len(data) + 3
    return (GS + b"(k\x04\x001A2\x00" + GS + b"(k\x03\x001C\x06" + GS + b"(k\x03\x001E1"
            + GS + b"(k" + bytes([n & 0xFF, n >> 8]) + b"1P0" + data + GS + b"(k\x03\x001Q0")


def raster(width_bytes: int, rows: int, fill: bytes = b"\x00") -> bytes:
    body = (fill * (width_bytes * rows))[: width_bytes * rows]
    return GS + b"v0\x00" + bytes([width_bytes, 0, rows & 0xFF, rows >> 8]) + body


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator(speed_mm_s=1000.0)
    e.start_tcp()
    try:
        yield e
    finally:
        e.stop()


def printed(emu: Emulator, text: str, timeout: float = 5.0) -> Transcript:
    emu.wait(lambda e: text in e.transcript.text(), timeout)
    return emu.transcript


# -- the pure parts: decoder and real-time scanner -------------------------------------------


@pytest.mark.parametrize(("data", "name", "header_len", "payload"), [
    (b"\n", "lf", 1, 0),
    (ESC + b"@", "init", 2, 0),
    (ESC + b"a\x01", "align", 3, 0),
    (ESC + b"p\x00\x19\xfa", "drawer", 5, 0),
    (ESC + b"*\x21\x10\x00", "bit_image", 5, 48),
    (ESC + b"D\x08\x10\x00", "tabs", 5, 0),
    (GS + b"V\x42\x00", "cut", 4, 0),
    (GS + b"V\x01", "cut", 3, 0),
    (GS + b"V\x07", "unknown", 3, 0),  # not a cut mode: shown, not taken for a cut
    (GS + b"k\x49\x05", "barcode", 4, 5),
    (GS + b"k\x02123\x00", "barcode", 7, 0),
    (GS + b"v0\x00\x02\x00\x03\x00", "raster", 8, 6),
    (GS + b"(k\x05\x00", "GS(k", 5, 5),
    (GS + b"8L\x10\x00\x01\x00", "GS(L", 7, 0x10010),
    (GS + b"g2\x00\x32\x00", "maintenance", 6, 0),
    (b"\x10\x04\x01", "realtime", 3, 0),
    (CLEAR, "realtime", 10, 0),
    (b"\x1c&", "kanji_on", 2, 0),
    (ESC + b"\x99", "unknown", 2, 0),
    (b"\x07", "control", 1, 0),
    (b"abc\ndef", "text", 3, 0),
])
def test_decoder_lengths(data: bytes, name: str, header_len: int, payload: int) -> None:
    cmd = decode(data)
    assert cmd is not None
    assert (cmd.name, len(cmd.header), cmd.payload_len) == (name, header_len, payload)


@pytest.mark.parametrize("partial", [ESC, ESC + b"a", GS + b"V\x42", GS + b"k\x02123",
                                     GS + b"(k\x05", b"\x10\x04", CLEAR[:6]])
def test_decoder_waits_for_incomplete_commands(partial: bytes) -> None:
    assert decode(partial) is None


# GS V m: which modes cut through and which leave one point uncut. Epson ESC/POS Command
# Reference, "GS V: Select cut mode and cut paper": function A m = 0/48 full, 1/49 partial;
# B (feed n, then cut) 65 full, 66 partial; C (cutting range n) 97 full, 98 partial; D (cut,
# then feed back to the print start) 103 full, 104 partial. The parity of m does not decide it.
@pytest.mark.parametrize(("command", "partial"), [
    (GS + b"V\x00", False), (GS + b"V0", False), (GS + b"V\x01", True), (GS + b"V1", True),
    (GS + b"VA\x00", False), (GS + b"VB\x00", True), (GS + b"Va\x05", False),
    (GS + b"Vb\x05", True), (GS + b"Vg\x05", False), (GS + b"Vh\x05", True),
])
def test_cut_modes_full_and_partial(command: bytes, partial: bool) -> None:
    model = PrinterModel(PrinterConfig(speed_mm_s=1e6), now=0.0)
    model.feed(b"slip\n" + command + b"next\n", now=0.0)
    model.advance(10.0)
    slips = model.transcript.slips()
    assert slips[0][-1] == {"type": "cut", "partial": partial}
    assert model.transcript.text().splitlines()[1] == ("[PARTIAL CUT]" if partial else "[CUT]")
    assert [e.get("text") for e in slips[1]] == ["next"]


@pytest.mark.parametrize("m", [2, 47, 50, 64, 67, 96, 99, 102, 105, 255])
def test_a_cut_mode_outside_the_reference_does_not_cut(m: int) -> None:
    model = PrinterModel(PrinterConfig(speed_mm_s=1e6), now=0.0)
    model.feed(b"slip\n" + GS + b"V" + bytes([m]) + b"next\n", now=0.0)
    model.advance(10.0)
    assert len(model.transcript.slips()) == 1  # still the first slip: nothing was cut
    assert {"type": "unknown", "bytes": f"1D 56 {m:02X}"} in model.transcript.entries()


def test_decoder_keeps_double_byte_characters_whole() -> None:
    gb = "收银".encode("gb18030")
    cmd = decode(gb + gb[:1], "gb18030")
    assert cmd is not None and cmd.header == gb
    sjis = "領収書".encode("shift_jis")
    cmd = decode(sjis, "shift_jis")
    assert cmd is not None and cmd.header == sjis


@pytest.mark.parametrize(("stream", "found"), [
    (b"\x10\x04\x01", [b"\x10\x04\x01"]),
    (b"\x00\x10\x10\x04\x04\xff", [b"\x10\x04\x04"]),
    (b"\x10\x04\x05\x10\x05\x02", [b"\x10\x05\x02"]),
    (b"ab\x10\x14\x07\x01" + CLEAR, [b"\x10\x14\x07\x01", CLEAR]),
    (b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x09", []),
])
def test_realtime_scanner(stream: bytes, found: list[bytes]) -> None:
    scanner = RealtimeScanner()
    got = [c for c in (scanner.push(b) for b in stream) if c is not None]
    assert got == found
    assert realtime_length(found[0] + b"x" if found else b"\x10x") == (len(found[0]) if found
                                                                        else 0)


def test_model_prints_at_the_configured_speed() -> None:
    model = PrinterModel(PrinterConfig(speed_mm_s=100.0), now=0.0)
    model.feed(b"a\n" * 8 + pid(b"0001"), now=0.0)  # 8 lines x 30 dots = 30 mm = 0.3 s
    model.advance(0.29)
    assert model.take_output() == b""
    assert len(model.transcript.texts()) == 7
    model.advance(0.31)
    assert model.take_output() == b'7"0001\x00'


def test_model_backpressure_when_the_buffer_is_full() -> None:
    model = PrinterModel(PrinterConfig(buffer_size=64, speed_mm_s=100.0), now=0.0)
    model.inject("paper_out", 0.0)
    assert model.feed(b"x" * 100, now=0.0) == 64
    assert model.feed(b"y", now=0.1) == 0
    # A real-time command still gets through a full buffer.
    assert model.feed(b"\x10\x04\x04", now=0.1) == 3
    assert model.take_output() == b"\x72"


# -- replies over TCP ----------------------------------------------------------------------


def test_asb_is_sent_when_enabled(host: Host) -> None:
    host.send(GS + b"a\xff")
    assert host.read(4) == b"\x10\x00\x00\x00"
    host.send(GS + b"a\x00")
    assert host.silent_for(0.1)


@pytest.mark.parametrize(("n", "value"), [(1, 0x12), (2, 0x12), (3, 0x12), (4, 0x12)])
def test_dle_eot_when_idle(emu: Emulator, host: Host, n: int, value: int) -> None:
    del emu
    assert host.status(n) == value


def test_process_id_reply_waits_for_the_print_time(emu: Emulator, host: Host) -> None:
    lines = 80  # 80 x 30 dots at 8 dots/mm = 300 mm = 0.3 s at 1000 mm/s
    start = time.monotonic()
    host.send(b"".join(b"line %d\n" % i for i in range(lines)) + pid(b"A001"))
    assert host.read_block() == b'7"A001\x00'
    elapsed = time.monotonic() - start
    assert elapsed >= lines * 30 / 8 / 1000.0
    assert emu.transcript.texts()[-1] == f"line {lines - 1}"


def test_each_process_id_answers_when_reached(host: Host) -> None:
    host.send(b"a\n" + pid(b"0001") + b"b\n" + pid(b"0002"))
    assert host.read_block() == b'7"0001\x00'
    assert host.read_block() == b'7"0002\x00'


def test_clear_buffers_answers_and_drops_the_rest(emu: Emulator, host: Host) -> None:
    emu.inject("cover_open")
    host.send(b"never printed\n" + pid(b"LOST") + CLEAR)
    assert host.read_block() == b"7%\x00"
    emu.clear("cover_open")
    host.send(b"after clear\n" + pid(b"0003"))
    assert host.read_block() == b'7"0003\x00'
    text = emu.transcript.text()
    assert "never printed" not in text and "after clear" in text


@pytest.mark.parametrize(("n", "reply"), [
    (1, b"\x20"), (2, b"\x02"), (3, b"\x01"), (49, b"\x20"),
    (65, b"_1.00 ESC/POS\x00"), (66, b"_EPSON\x00"), (67, b"_TM-T88V\x00"),
    (68, b"_RCPTEMU0001\x00"),
])
def test_gs_i_identity(host: Host, n: int, reply: bytes) -> None:
    host.send(GS + b"I" + bytes([n]))
    assert host.read(len(reply)) == reply


def test_gs_g2_counters_follow_printing(emu: Emulator, host: Host) -> None:
    host.send(b"x\n" * 10 + CUT + b"y\n" + CUT)
    emu.wait(lambda e: e.transcript.text().count("[CUT]") == 2)
    emu.wait_idle()
    for n, expected in [(50, b"2"), (178, b"2"), (20, b"%d" % (emu.model.counter(20) or 0))]:
        host.send(GS + b"g2\x00" + bytes([n, 0]))
        assert host.read_block() == b"_" + expected + b"\x00"
    assert int(emu.model.counter(20) or 0) >= 12
    host.send(GS + b"g0\x00\x32\x00" + GS + b"g2\x00\x32\x00")  # reset cuts, read again
    assert host.read_block() == b"_0\x00"


def test_gs_r_paper_status_when_reached(emu: Emulator, host: Host) -> None:
    emu.inject("near_end")
    host.send(GS + b"r\x01")
    assert host.read(1) == b"\x03"


# -- what comes out on paper ---------------------------------------------------------------


def test_transcript_of_a_full_receipt(emu: Emulator, host: Host) -> None:
    host.send(
        INIT + ESC + b"a\x01" + ESC + b"E\x01" + GS + b"!\x11" + b"SHOP\n"
        + ESC + b"E\x00" + GS + b"!\x00" + ESC + b"a\x00" + ESC + b"-\x01" + b"Item\t1.00\n"
        + ESC + b"-\x00" + b"\x07\x01ctrl\x02\n"
        + GS + b"k\x49\x07{B12345" + GS + b"k\x02" + b"4006381333931\x00"
        + qr(b"https://example.com/r/1") + raster(48, 120)
        + GS + b"(L\x1a\x00\x30\x70\x30\x01\x01\x31\x10\x00\x08\x00" + b"\xaa" * 16
        + GS + b"(L\x02\x000\x32"
        + ESC + b"p\x00\x19\xfa" + ESC + b"d\x02" + CUT + b"next\n" + GS + b"V\x01"
    )
    t = printed(emu, "[PARTIAL CUT]")
    slips = t.slips()
    assert len(slips) == 2
    first = slips[0]
    assert first[0] == {"type": "text", "text": "SHOP", "align": "center", "bold": True,
                        "underline": 0, "size": [2, 2]}
    assert first[1]["text"] == "Item    1.00" and first[1]["underline"] == 1
    assert first[2]["text"] == "ctrl"  # control characters are not printed
    kinds = [e["type"] for e in first]
    assert kinds[3:] == ["barcode", "barcode", "qr", "image", "image", "drawer", "text",
                         "text", "cut"]
    assert first[3] == {"type": "barcode", "symbology": "CODE128", "data": "12345"}
    assert first[4] == {"type": "barcode", "symbology": "EAN13", "data": "4006381333931"}
    assert first[5] == {"type": "qr", "data": "https://example.com/r/1"}
    assert first[6] == {"type": "image", "width": 384, "height": 120}
    assert first[7] == {"type": "image", "width": 16, "height": 8}
    assert first[-1] == {"type": "cut", "partial": False}
    assert slips[1][-1] == {"type": "cut", "partial": True}
    text = t.text()
    for piece in ["SHOP", "[BARCODE CODE128 12345]", "[QR https://example.com/r/1]",
                  "[IMAGE 384x120]", "[DRAWER]", "[CUT]"]:
        assert piece in text
    assert json.loads(t.to_json())["slips"] == slips


@pytest.mark.parametrize(("setup", "raw", "expected"), [
    (b"", "Größe".encode("cp437"), "Größe"),
    (ESC + b"t\x13", "Preis 5 €".encode("cp858"), "Preis 5 €"),
    (ESC + b"t\x10", "café €".encode("cp1252"), "café €"),
    (b"\x1c&", "收银小票".encode("gb18030"), "收银小票"),
    (b"\x1cC\x01\x1c&", "領収書".encode("shift_jis"), "領収書"),
])
def test_code_pages_and_double_byte_text(emu: Emulator, host: Host, setup: bytes, raw: bytes,
                                         expected: str) -> None:
    host.send(INIT + setup + raw + b"\n" + b"\x1c.")
    assert printed(emu, expected).texts()[-1] == expected


@pytest.mark.parametrize(("data", "image"), [
    # ESC * 24-dot stripes, one per line, join into one image
    ((ESC + b"3\x18" + ESC + b"*\x21\x40\x00" + b"\x00" * 192 + b"\n") * 3,
     {"type": "image", "width": 64, "height": 72, "stripes": True}),
    (GS + b"8L\x1a\x00\x00\x00\x30\x70\x30\x01\x01\x31\x10\x00\x08\x00" + b"\x00" * 16
     + GS + b"(L\x02\x000\x32", {"type": "image", "width": 16, "height": 8}),
    (GS + b"*\x02\x03" + b"\x00" * 48 + GS + b"/\x00",
     {"type": "image", "width": 16, "height": 24}),
    (GS + b"v0\x03\x01\x00\x04\x00" + b"\x00" * 4, {"type": "image", "width": 16, "height": 8}),
])
def test_image_commands(emu: Emulator, host: Host, data: bytes, image: dict[str, object]) -> None:
    host.send(data + b"done\n")
    assert printed(emu, "done").entries()[0] == image


def test_long_lines_wrap_at_the_column_count(emu: Emulator, host: Host) -> None:
    host.send(b"A" * 50 + b"\n" + GS + b"!\x10" + b"B" * 25 + b"\nend\n")
    assert printed(emu, "end").texts() == ["A" * 42, "A" * 8, "B" * 21, "BBBB", "end"]


def test_unknown_commands_are_skipped_or_logged(emu: Emulator, host: Host) -> None:
    host.send(ESC + b"c5\x00" + GS + b"(E\x03\x00\x01\x02\x03" + ESC + b"\x99" + b"ok\n")
    t = printed(emu, "ok")
    assert t.entries() == [{"type": "unknown", "bytes": "1B 99"},
                           {"type": "text", "text": "ok", "align": "left", "bold": False,
                            "underline": 0, "size": [1, 1]}]
    assert "[UNKNOWN 1B 99]" in t.text()


def test_dle_eot_inside_raster_data_is_executed_and_the_image_stays_intact(
        emu: Emulator, host: Host) -> None:
    body = b"\x00\x10\x04\x01\xff" * 20  # 100 bytes = 10 rows of 10 bytes
    host.send(GS + b"v0\x00\x0a\x00\x0a\x00" + body + b"after\n")
    replies = host.read(20)
    assert replies == b"\x12" * 20  # one unrequested status byte per 10 04 01
    t = printed(emu, "after")
    assert t.entries()[0] == {"type": "image", "width": 80, "height": 10}


def test_big_image_streams_through_a_small_buffer() -> None:
    with Emulator(speed_mm_s=2000.0, buffer_size=512) as e:
        port = e.start_tcp()
        h = Host(port)
        h.send(raster(72, 600) + pid(b"IMG1"))  # 43 KB through 512 bytes
        assert h.read_block(timeout=5) == b'7"IMG1\x00'
        assert e.transcript.entries()[0] == {"type": "image", "width": 576, "height": 600}
        h.close()


def test_second_tcp_connection_waits_for_the_first(emu: Emulator, host: Host) -> None:
    assert emu.tcp is not None
    second = Host(emu.tcp.port)
    second.send(b"\x10\x04\x01")
    assert second.silent_for(0.2)  # not served while the first host is connected
    host.close()
    assert second.read(1) == b"\x12"
    second.close()


def test_control_protocol(emu: Emulator, host: Host) -> None:
    port = emu.start_control()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        f = c.makefile("rwb")

        def ask(line: str) -> str:
            f.write(line.encode() + b"\n")
            f.flush()
            return f.readline().decode().rstrip("\n")

        assert ask("cover_open") == "ok"
        status = json.loads(ask("status"))
        assert status["faults"] == ["cover_open"] and status["online"] is False
        assert status["connection"]["tcp"]["connected"] is True
        assert ask("cover_close") == "ok"
        assert ask("bogus").startswith("error")
        assert ask("clear unrecoverable").startswith("error")
        assert ask("arm jam").startswith("error")
        assert ask("arm jam on_cut").startswith("ok ")
        assert json.loads(ask("status"))["armed"][0]["fault"] == "jam"
        assert ask("disarm") == "ok 1"
        host.send(b"hello\n")
        printed(emu, "hello")
        assert json.loads(ask("transcript"))["slips"][0][-1]["text"] == "hello"
        assert "[COVER OPEN]" in json.loads(ask("text"))
        assert ask("reset") == "ok"
        assert json.loads(ask("transcript"))["slips"] == []
    assert emu.command("garbage ff fe") == "ok"
    assert host.read(2) == b"\xff\xfe"


# -- the serial port on a pty ----------------------------------------------------------------


def _open_pty(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


def _pty_read(fd: int, n: int, timeout: float = 3.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            out += os.read(fd, n - len(out))
    return out


def test_pty_serial_port(tmp_path: Path) -> None:
    link = str(tmp_path / "ttyPRINTER")
    with Emulator(speed_mm_s=2000.0) as e:
        path = e.start_pty(link)
        assert os.path.realpath(link) == os.path.realpath(path)
        fd = _open_pty(link)
        try:
            os.write(fd, b"\x10\x04\x04")
            assert _pty_read(fd, 1) == b"\x12"
            os.write(fd, b"serial hello\n" + pid(b"S001"))
            assert _pty_read(fd, 7) == b'7"S001\x00'
            assert "serial hello" in e.transcript.texts()
            e.power_cycle(off_s=0.2)
            assert _pty_read(fd, 3) == b";1\x00"
        finally:
            os.close(fd)
    assert not os.path.lexists(link)


def test_pty_baud_rate_limits_the_byte_rate() -> None:
    with Emulator(speed_mm_s=5000.0) as e:
        fd = _open_pty(e.start_pty(baud=38400))  # 3840 B/s
        try:
            start = time.monotonic()
            os.write(fd, b"x" * 1900 + b"\n" + pid(b"B001"))
            assert _pty_read(fd, 7, timeout=5) == b'7"B001\x00'
            assert time.monotonic() - start >= 0.4  # ~1.9 KB at 3.8 KB/s = 0.5 s
        finally:
            os.close(fd)


# -- the console script ----------------------------------------------------------------------


def test_cli_serve_and_ctl_round_trip(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "receiptd.emulator"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    serve = [*cmd, "serve", "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0", "--speed", "2000"]
    proc = subprocess.Popen(serve, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        port = int(info["tcp"].rsplit(":", 1)[1])
        control = info["control"]

        def ctl(*words: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*cmd, "ctl", "--control", control, *words],
                                  capture_output=True, text=True, env=env, timeout=20)

        h = Host(port)
        h.send(b"from the CLI\n" + CUT)
        assert proc.stdout.readline().strip() == "from the CLI"
        assert proc.stdout.readline().strip() == "[CUT]"
        assert ctl("paper_out").returncode == 0
        assert proc.stdout.readline().strip() == "[PAPER OUT]"
        status = ctl("status")
        assert status.returncode == 0 and json.loads(status.stdout)["faults"] == ["paper_out"]
        bad = ctl("nonsense")
        assert bad.returncode == 1 and bad.stdout.startswith("error")
        assert "from the CLI" in ctl("text").stdout
        h.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
