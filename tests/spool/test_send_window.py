"""The send window: receipts sent while earlier ones await their process IDs.

Through the real daemon and the emulator on loopback TCP, with the window switched on per
printer in the config file. What must hold exactly as with one print at a time:

* a print is ``printed`` only when its own ID, or the ID of a print sent after it, came back;
* a fault with several prints in flight: the confirmed ones never come out again, every other
  one is requeued (in send order) and printed once, whole, under the REPRINT marker;
* the window never holds more than its byte limit: the next print waits for a confirmation.

The printer is held (cover open) while the receipts are queued, so they are all waiting when
it becomes ready, and it prints slowly (100 mm/s, ~0.3 s a receipt) next to the milliseconds
the daemon needs to send one: the window really fills.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiptd import protocol
from receiptd.document import Submission
from receiptd.emulator import Emulator
from receiptd.render import render
from receiptd.render.profiles import get_profile

from ..rig import occurrences
from ..support import DaemonProcess, sample_document, wait_until

SPEED_MM_S = 100.0
LINES = 3


def window_config(tmp: Path, prints: int, size: int) -> list[str]:
    path = tmp / "window.toml"
    path.write_text(f"[printers.front]\nsend_window_prints = {prints}\n"
                    f"send_window_bytes = {size}\n")
    return ["--config", str(path)]


def measure_receipt_mm(emu: Emulator, daemon: DaemonProcess) -> float:
    before = emu.snapshot()["printed_mm"]
    rid = daemon.submit({"document": sample_document("WARM-00", lines=LINES)})["id"]
    daemon.wait_printed(rid, timeout=30)
    emu.wait_idle(10)
    mm = float(emu.snapshot()["printed_mm"] - before)
    assert mm > 10, mm
    emu.reset()
    return mm


def submit_held(emu: Emulator, daemon: DaemonProcess, tags: list[str]) -> dict[str, Any]:
    """Queue receipts while the cover is open; returns tag -> receipt (with its print id)."""
    emu.inject("cover_open")
    daemon.wait_state("cover_open")
    out = {tag: daemon.submit({"document": sample_document(tag, lines=LINES)}) for tag in tags}
    wait_until(lambda: daemon.printer()["queue"]["depth"] == len(tags), timeout=10,
               what="all receipts queued")
    return out


def log_events(daemon: DaemonProcess, event: str) -> list[dict[str, Any]]:
    out = []
    for line in daemon.log().splitlines():
        if f'"{event}"' in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(speed_mm_s=SPEED_MM_S) as e:
        e.start_tcp()
        yield e


def test_fault_mid_window_confirmed_never_reprint_others_reprint_marked_once(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url},
                            extra_args=window_config(tmp_path, 5, 64 * 1024))
    mm = measure_receipt_mm(emu, daemon)
    tags = [f"WIN-{i}" for i in range(1, 6)]
    receipts = submit_held(emu, daemon, tags)
    emu.arm("paper_out", after_mm=mm * 2.5)  # in the third receipt of five
    emu.clear("cover_open")
    daemon.wait_state("paper_out", timeout=20)
    wait_until(lambda: daemon.receipt(receipts["WIN-5"]["id"])["state"] == "queued",
               timeout=20, what="the window requeued")
    emu.clear("paper_out")
    for r in receipts.values():
        daemon.wait_printed(r["id"], timeout=30)
    emu.wait_idle(10)

    prints = {tag: daemon.receipt(r["id"])["prints"] for tag, r in receipts.items()}
    # The window was real: all five were sent before the first one was confirmed.
    first_done = prints["WIN-1"][0]["finished_at"]
    assert all(p[0]["sent_at"] <= first_done for p in prints.values()), prints
    seen = occurrences(emu)
    for tag in ("WIN-1", "WIN-2"):  # confirmed before the fault: never again
        assert [(p["kind"], p["state"], p["confirmation"]) for p in prints[tag]] == [
            ("original", "printed", "process_id")], prints[tag]
        assert [o for o in seen if o[0] == tag] == [(tag, False, True)], seen
    for tag in ("WIN-3", "WIN-4", "WIN-5"):  # in flight at the fault: one marked reprint each
        assert [(p["kind"], p["state"]) for p in prints[tag]] == [
            ("original", "interrupted"), ("interrupted_retry", "printed")], prints[tag]
        mine = [o for o in seen if o[0] == tag]
        assert [o for o in mine if o[1]] == [(tag, True, True)], seen
        assert not any(o[2] for o in mine if not o[1]), f"{tag} came out whole unmarked: {seen}"
    # WIN-4 and WIN-5 were still in the printer's buffer: the clear threw them away unprinted.
    assert not [o for o in seen if o[0] in ("WIN-4", "WIN-5") and not o[1]], seen
    # Requeued in send order: the reprints came out in the order of the originals.
    reprinted = [o[0] for o in seen if o[1]]
    assert reprinted == ["WIN-3", "WIN-4", "WIN-5"], seen
    assert daemon.printer()["state"] == "online"


class DropIdsProxy:
    """Between the daemon and the emulator: forwards every byte, except that it swallows the
    next ``drop`` process-ID replies (``37 22 d1 d2 d3 d4 00``) of prints — as a printer does
    when several pile up unread and only the newest comes back. (Process IDs cannot be
    predicted, so the replies are picked by their order, which is the order of the prints.)"""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.drop = 0
        self.dropped: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                host, _ = self.server.accept()
            except OSError:
                return
            printer = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(host, printer, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(printer, host, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, filtered: bool) -> None:
        block = bytearray()
        try:
            while data := src.recv(4096):
                if not filtered:
                    dst.sendall(data)
                    continue
                out = bytearray()
                for byte in data:
                    if block or byte in (0x37, 0x5F):  # a header block runs to its NUL
                        block.append(byte)
                        if byte == 0 and len(block) > 1:
                            out += self._pass(bytes(block))
                            block.clear()
                    else:
                        out.append(byte)
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def _pass(self, block: bytes) -> bytes:
        if block[:2] == b"\x37\x22" and len(block) == 7:
            pid = block[2:6].decode("ascii")
            if self.drop and pid != protocol.PROBE_PID:
                self.drop -= 1
                self.dropped.append(pid)
                return b""
        return block

    def close(self) -> None:
        self.server.close()


def test_a_later_id_confirms_every_print_sent_before_it(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
) -> None:
    assert emu.tcp_url is not None
    proxy = DropIdsProxy(int(emu.tcp_url.rsplit(":", 1)[1]))
    try:
        daemon = daemon_factory({"front": f"tcp://127.0.0.1:{proxy.port}"},
                                extra_args=window_config(tmp_path, 3, 64 * 1024))
        measure_receipt_mm(emu, daemon)
        tags = ["LATE-1", "LATE-2", "LATE-3"]
        receipts = submit_held(emu, daemon, tags)
        print_ids = {tag: r["prints"][0]["id"] for tag, r in receipts.items()}
        proxy.drop = 2  # the IDs of LATE-1 and LATE-2
        emu.clear("cover_open")
        for r in receipts.values():
            daemon.wait_printed(r["id"], timeout=30)
        emu.wait_idle(10)
        # Their own IDs never reached the daemon...
        assert len(proxy.dropped) == 2 and proxy.drop == 0, proxy.dropped
        # ...yet both are printed, confirmed by process ID, once, never in doubt.
        for r in receipts.values():
            prints = daemon.receipt(r["id"])["prints"]
            assert [(p["kind"], p["state"], p["confirmation"]) for p in prints] == [
                ("original", "printed", "process_id")], prints
        seen = occurrences(emu)
        assert sorted(seen) == sorted((t, False, True) for t in tags), seen
        confirmed = {e["print_id"]: e["by_print"] for e in log_events(daemon, "print_confirmed")}
        last = print_ids["LATE-3"]
        assert {confirmed[print_ids[t]] for t in tags} == {last}, confirmed
    finally:
        proxy.close()


def payload_size(tag: str) -> int:
    content = Submission.model_validate(
        {"document": sample_document(tag, lines=LINES)}).content()
    marker = protocol.enable_asb() + protocol.process_id(protocol.encode_pid(1))
    return len(render(content, get_profile("TM-T88V"))) + len(marker)


def test_a_window_at_its_byte_limit_waits_for_a_confirmation(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
) -> None:
    tags = [f"BYTE-{i}" for i in range(1, 5)]
    size = payload_size(tags[0])
    assert {payload_size(t) for t in tags} == {size}
    limit = size * 2 + size // 2  # two prints fit, a third does not
    daemon = daemon_factory({"front": emu.tcp_url},
                            extra_args=window_config(tmp_path, 8, limit))
    measure_receipt_mm(emu, daemon)
    receipts = submit_held(emu, daemon, tags)
    emu.clear("cover_open")
    for r in receipts.values():
        daemon.wait_printed(r["id"], timeout=30)
    prints = [daemon.receipt(receipts[t]["id"])["prints"] for t in tags]
    assert all([(p["kind"], p["state"]) for p in ps] == [("original", "printed")]
               for ps in prints), prints
    sent = [ps[0]["sent_at"] for ps in prints]
    done = [ps[0]["finished_at"] for ps in prints]
    # Two in flight at once (the second went out before the first was confirmed)...
    assert sent[1] < done[0], prints
    # ...never three: each print waited for the one two before it to be confirmed.
    for k in (2, 3):
        assert sent[k] >= done[k - 2], prints
    assert [o[0] for o in occurrences(emu)] == tags
    assert re.search(r"window_failed", daemon.log()) is None


def test_sigterm_drains_the_window_before_exiting(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url},
                            extra_args=window_config(tmp_path, 5, 64 * 1024))
    measure_receipt_mm(emu, daemon)
    tags = [f"TERM-{i}" for i in range(1, 6)]
    receipts = submit_held(emu, daemon, tags)
    emu.arm("slow", after_mm=10, mm_per_s=0.2)  # the head crawls in TERM-1: all five in flight
    emu.clear("cover_open")
    wait_until(lambda: all(daemon.receipt(r["id"])["prints"][0]["sent_at"]
                           for r in receipts.values()), timeout=20, what="all five sent")
    emu.wait(lambda e: "slow" in e.transcript.events(), timeout=20)
    assert {daemon.receipt(r["id"])["state"] for r in receipts.values()} == {"printing"}
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: '"draining"' in daemon.log(), what="the daemon draining")
    assert daemon.proc.poll() is None  # waiting for the five on (and in) the printer
    emu.clear("slow")
    assert daemon.proc.wait(30) == 0, daemon.log()
    daemon.start()  # only to read the journal the drained daemon left
    for tag, r in receipts.items():
        prints = daemon.receipt(r["id"])["prints"]
        assert [(p["kind"], p["state"]) for p in prints] == [("original", "printed")], (tag, prints)
    emu.wait_idle(10)
    assert sorted(occurrences(emu)) == sorted((t, False, True) for t in tags)


def test_sigkill_with_a_full_window_reprints_every_print_in_flight_marked(
    emu: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
) -> None:
    daemon = daemon_factory({"front": emu.tcp_url},
                            extra_args=window_config(tmp_path, 5, 64 * 1024))
    measure_receipt_mm(emu, daemon)
    tags = [f"KILW-{i}" for i in range(1, 6)]
    receipts = submit_held(emu, daemon, tags)
    emu.arm("slow", after_mm=10, mm_per_s=0.2)  # the head crawls in KILW-1: none can confirm
    emu.clear("cover_open")
    wait_until(lambda: all(daemon.receipt(r["id"])["prints"][0]["sent_at"]
                           for r in receipts.values()), timeout=20, what="all five sent")
    emu.wait(lambda e: "slow" in e.transcript.events(), timeout=20)
    assert {daemon.receipt(r["id"])["state"] for r in receipts.values()} == {"printing"}
    daemon.kill()  # five prints in doubt: the printer still prints what it holds
    emu.clear("slow")
    daemon.start()
    for r in receipts.values():
        daemon.wait_printed(r["id"], timeout=30)
    emu.wait_idle(10)
    seen = occurrences(emu)
    in_doubt = []
    for tag, r in receipts.items():
        prints = daemon.receipt(r["id"])["prints"]
        assert [p["state"] for p in prints].count("printed") == 1, prints
        mine = [o for o in seen if o[0] == tag]
        assert len([o for o in mine if not o[1]]) <= 1, seen  # never unmarked twice
        assert any(o[2] for o in mine), seen  # never lost
        if prints[0]["state"] == "interrupted":
            assert "daemon restart" in prints[0]["outcome"]
            assert [o for o in mine if o[1]] == [(tag, True, True)], seen
            in_doubt.append(tag)
    # None was confirmed before the kill: all five were reprinted, marked, in send order.
    assert in_doubt == tags
    assert [o[0] for o in seen if o[1]] == tags, seen
