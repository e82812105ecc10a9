"""A Star printer in Star Line Mode, through the real daemon and the emulator's Star dialect.

Prints are proven by the ETB counter: the session learns it on connect, every print ends in
an ETB, and a print is ``printed`` only once an automatic status shows the counter at that
ETB. The guarantees are the ESC/POS ones: a fault or a dead daemon mid-receipt leaves the
receipt in doubt, and it comes out again in full under a marker, never unmarked twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiptd.emulator import Emulator

from ..rig import Rig, occurrences, verify
from ..support import DaemonProcess, sample_document, wait_until

PROFILE = "TSP600"
LINES = 3
_ids = itertools.count(1)


def _url(emu: Emulator, kind: str, tmp: Path) -> str:
    if kind == "tcp":
        base = f"tcp://127.0.0.1:{emu.start_tcp()}?"
    else:
        emu.start_pty(link=str(tmp / "ttySTAR"))
        base = f"serial://{tmp / 'ttySTAR'}?"
    return f"{base}dialect=star&profile={PROFILE}"


@pytest.fixture(params=["tcp", "pty"])
def rig(request: pytest.FixtureRequest, tmp_path: Path,
        daemon_factory: Callable[..., DaemonProcess]) -> Iterator[Rig]:
    emu = Emulator(speed_mm_s=2000.0, dialect="star")
    try:
        daemon = daemon_factory({"front": _url(emu, request.param, tmp_path)})
        daemon.wait_state("online", timeout=20)
        yield Rig(emu, daemon, request.param)
    finally:
        emu.stop()


def submit(rig: Rig, prefix: str, n: int = 1, lines: int = LINES) -> dict[str, int]:
    out = {}
    for _ in range(n):
        tag = f"{prefix}-{next(_ids)}"
        out[tag] = rig.daemon.submit({"document": sample_document(tag, lines=lines)})["id"]
    return out


def started(emu: Emulator, tag: str) -> Callable[[], bool]:
    seen: list[bool] = []

    def watch(entry: dict[str, Any]) -> None:
        if entry.get("type") == "text" and f"RECEIPT {tag}" in entry.get("text", ""):
            seen.append(True)

    emu.subscribe(watch)
    return lambda: bool(seen)


def test_receipts_are_confirmed_by_the_etb_counter(rig: Rig) -> None:
    daemon, emu = rig.daemon, rig.emu
    health = daemon.printer()
    assert health["confirmation"] == "process_id", health
    assert health["identity"].get("firmware"), health["identity"]
    # More receipts than the 5-bit counter counts: its wrap must not confuse anything.
    receipts = submit(rig, "STAR", n=40)
    verify(rig, receipts, "star burst")
    for rid in receipts.values():
        prints = daemon.receipt(rid)["prints"]
        assert [(p["kind"], p["state"], p["confirmation"]) for p in prints] == [
            ("original", "printed", "process_id")], prints
    seen = occurrences(emu)
    assert sorted(t for t, marked, whole in seen if whole and not marked) == sorted(receipts)


@pytest.mark.parametrize(("fault", "state"), [("paper_out", "paper_out"),
                                              ("cover_open", "cover_open")])
def test_a_fault_mid_receipt_is_reprinted_marked_once_cleared(rig: Rig, fault: str,
                                                              state: str) -> None:
    daemon, emu = rig.daemon, rig.emu
    warm = submit(rig, "WARM")
    verify(rig, warm, "warm-up")
    emu.reset()
    emu.arm(fault, after_mm=15)
    receipts = submit(rig, fault.upper().replace("_", ""), lines=30)
    daemon.wait_state(state, timeout=20)
    (tag, rid), = receipts.items()
    wait_until(lambda: daemon.receipt(rid)["prints"][0]["state"] == "interrupted", timeout=20,
               what="the print in doubt")
    assert daemon.receipt(rid)["state"] != "printed"
    assert len(daemon.receipt(rid)["prints"]) == 2  # the marked retry waits for the operator
    emu.clear(fault)
    daemon.wait_state("online", timeout=20)
    verify(rig, receipts, f"{fault} mid-receipt")
    mine = [o for o in occurrences(emu) if o[0] == tag]
    assert any(marked and whole for _, marked, whole in mine), mine
    prints = daemon.receipt(rid)["prints"]
    assert [p["kind"] for p in prints] == ["original", "interrupted_retry"], prints
    assert prints[0]["state"] == "interrupted", prints


def test_cover_open_holds_the_queue_until_closed(rig: Rig) -> None:
    daemon, emu = rig.daemon, rig.emu
    emu.inject("cover_open")
    health = daemon.wait_state("cover_open", timeout=20)
    assert "cover_open" in health["flags"]
    receipts = submit(rig, "COVER", n=2)
    rid = next(iter(receipts.values()))
    assert daemon.receipt(rid)["state"] == "queued"
    emu.clear("cover_open")
    daemon.wait_state("online", timeout=20)
    verify(rig, receipts, "cover open before receipts")
    for tag in receipts:
        assert [o for o in occurrences(emu) if o[0] == tag] == [(tag, False, True)]


def test_sigkill_mid_receipt_reprints_it_marked(
        tmp_path: Path, daemon_factory: Callable[..., DaemonProcess]) -> None:
    # Slow paper: the first receipt takes over a second to come out.
    with Emulator(speed_mm_s=40.0, dialect="star") as emu:
        daemon = daemon_factory({"front": _url(emu, "tcp", tmp_path)})
        first = started(emu, "KILL-1")
        ids = {tag: daemon.submit({"document": sample_document(tag, lines=3)})["id"]
               for tag in ("KILL-1", "KILL-2", "KILL-3")}
        wait_until(first, timeout=20, what="first receipt on paper")
        assert daemon.receipt(ids["KILL-1"])["state"] == "printing"
        daemon.kill()  # SIGKILL while the slip is coming out
        daemon.start()
        verify(Rig(emu, daemon, "tcp"), ids, "star sigkill mid-receipt")
        seen = occurrences(emu)
        assert any(marked and whole for tag, marked, whole in seen if tag == "KILL-1"), seen
        for tag in ("KILL-2", "KILL-3"):
            assert [o for o in seen if o[0] == tag] == [(tag, False, True)], seen
        prints = daemon.receipt(ids["KILL-1"])["prints"]
        assert [p["kind"] for p in prints] == ["original", "interrupted_retry"], prints


def test_jam_mid_receipt_waits_for_the_operator_then_reprints_marked(rig: Rig) -> None:
    daemon, emu = rig.daemon, rig.emu
    emu.arm("jam", after_mm=15)
    receipts = submit(rig, "JAM", lines=30)
    daemon.wait_state("mechanical_error", timeout=20)
    (tag, rid), = receipts.items()
    wait_until(lambda: daemon.receipt(rid)["prints"][0]["state"] == "interrupted", timeout=20,
               what="the print in doubt")
    # The daemon threw the rest of the slip away (ESC ACK CAN) but left the jam alone: a Star
    # printer's jam is cleared at the printer. The admin's recover resets it again.
    wait_until(lambda: "reset" in emu.transcript.events(), timeout=10, what="ESC ACK CAN")
    r = daemon.clients["admin"].post("/v1/printers/front/recover")
    assert r.status_code == 200, r.text
    assert "jam" in emu.snapshot()["faults"]
    assert daemon.printer()["state"] == "mechanical_error"
    emu.command("recover")  # the operator clears the jam
    daemon.wait_state("online", timeout=20)
    verify(rig, receipts, "jam mid-receipt")
    assert any(marked and whole for t, marked, whole in occurrences(emu) if t == tag)
    assert [p["kind"] for p in daemon.receipt(rid)["prints"]] == ["original",
                                                                 "interrupted_retry"]


@pytest.mark.parametrize("off_s", [0.4, 4.0], ids=["short", "long"])
def test_power_cycle_mid_receipt(rig: Rig, off_s: float) -> None:
    """A Star printer says nothing when it powers up (its counter is 0 again, ASB off): on a
    pty no connection resets either. The session learns the counter again, and what was in
    flight comes out again marked."""
    daemon, emu = rig.daemon, rig.emu
    emu.arm("power_cycle", after_mm=15, off_s=off_s)
    receipts = submit(rig, f"PWR{int(off_s * 10)}", n=2, lines=30)
    wait_until(lambda: emu.snapshot()["power_epoch"] > 0, timeout=20, what="power cycle")
    verify(rig, receipts, f"{rig.kind}: power cycle ({off_s} s) mid-receipt")
    kinds = [p["kind"] for rid in receipts.values() for p in daemon.receipt(rid)["prints"]]
    assert "interrupted_retry" in kinds, kinds  # the one cut short came out again, marked
    more = submit(rig, "AFTER", n=3)
    verify(rig, more, "after the power cycle")
    for tag in more:
        assert [o for o in occurrences(emu) if o[0] == tag] == [(tag, False, True)]


def test_epos_print_to_a_star_printer(tmp_path: Path,
                                      daemon_factory: Callable[..., DaemonProcess]) -> None:
    """ePOS-Print carries a document, not ESC/POS: a Star printer prints it in its own
    language, and the app hears success only once the ETB counter proves the paper out."""
    from ..epos.test_epos_e2e import post, text_receipt

    with Emulator(speed_mm_s=2000.0, dialect="star") as emu:
        daemon = daemon_factory({"front": _url(emu, "tcp", tmp_path)}, extra_args=["--epos"])
        daemon.wait_state("online", timeout=20)
        r, answer = post(daemon, text_receipt("EPOS-STAR"))
        assert r.status_code == 200, r.text
        assert answer.get("success") == "true", answer
        assert [o for o in occurrences(emu) if o[0] == "EPOS-STAR"] == [
            ("EPOS-STAR", False, True)]


def test_stale_etbs_in_the_buffer_confirm_nothing(
        tmp_path: Path, daemon_factory: Callable[..., DaemonProcess]) -> None:
    """Another host's job (with its own counter clear and ETBs) still in the printer's buffer
    when the daemon connects: its ETBs move the counter first, and none may be taken for ours."""
    import socket

    with Emulator(speed_mm_s=2000.0, dialect="star") as emu:
        port = emu.start_tcp()
        emu.inject("paper_out")  # the other job waits in the buffer
        other = (b"\x1b\x40" + b"OTHER HOST JOB\n" + b"\x1b\x1e\x45\x00" + b"\x17" * 3
                 + b"MORE\n" + b"\x17" * 2)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(other)
        daemon = daemon_factory({"front": _url_for_port(port)})
        daemon.wait_state("paper_out", timeout=20)
        receipts = {tag: daemon.submit({"document": sample_document(tag, lines=3)})["id"]
                    for tag in ("STALE-1", "STALE-2")}
        emu.clear("paper_out")
        verify(Rig(emu, daemon, "tcp"), receipts, "stale ETBs ahead of the probe")
        for tag in receipts:
            assert [o for o in occurrences(emu) if o[0] == tag] == [(tag, False, True)]
        text = emu.transcript.text()
        assert text.index("OTHER HOST JOB") < text.index("RECEIPT STALE-1"), text


def _url_for_port(port: int) -> str:
    return f"tcp://127.0.0.1:{port}?dialect=star&profile={PROFILE}"
