"""The daemon killed with SIGKILL: nothing accepted is lost, nothing is printed twice unmarked.

Real process, real SQLite file, real sockets: ``DaemonProcess.kill()`` sends SIGKILL, and the
restarted daemon finds in the journal what the dead one left in doubt.

Every case runs for both printer languages: ESC/POS (a print proven by its process ID) and
Star Line Mode (proven by the ETB counter, which the restarted daemon learns afresh behind
whatever the dead one left in the printer's buffer).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from receiptd.emulator import Emulator

from ..rig import Rig, occurrences, verify
from ..support import DaemonProcess, sample_document, wait_until

DIALECTS = ["escpos", "star"]
STAR_PROFILE = "TSP600"


def printer_url(emu: Emulator, dialect: str) -> str:
    """The --printer URL of the emulator's TCP port, in ``dialect``."""
    if dialect == "star":
        return f"{emu.tcp_url}?dialect=star&profile={STAR_PROFILE}"
    return emu.tcp_url


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sigkill_mid_receipt_reprints_it_marked(
    daemon_factory: Callable[..., DaemonProcess], dialect: str
) -> None:
    # ~50 mm of paper at 40 mm/s: the first receipt takes over a second to come out.
    with Emulator(speed_mm_s=40.0, dialect=dialect) as emu:
        emu.start_tcp()
        daemon = daemon_factory({"front": printer_url(emu, dialect)})
        assert daemon.printer()["dialect"] == dialect
        started: list[bool] = []

        def watch(entry: dict[str, Any]) -> None:
            if entry.get("type") == "text" and "RECEIPT KILL-1" in entry.get("text", ""):
                started.append(True)

        emu.subscribe(watch)
        ids = {tag: daemon.submit({"document": sample_document(tag, lines=3)})["id"]
               for tag in ("KILL-1", "KILL-2", "KILL-3")}
        wait_until(lambda: started, timeout=20, what="first receipt on paper")
        assert daemon.receipt(ids["KILL-1"])["state"] == "printing"
        daemon.kill()  # SIGKILL while the slip is coming out
        daemon.start()
        verify(Rig(emu, daemon, "tcp", dialect=dialect), ids, f"{dialect}: sigkill mid-receipt")
        seen = occurrences(emu)
        first = [o for o in seen if o[0] == "KILL-1"]
        assert any(marked and whole for _, marked, whole in first), seen
        for tag in ("KILL-2", "KILL-3"):
            assert [o for o in seen if o[0] == tag] == [(tag, False, True)], seen
        prints = daemon.receipt(ids["KILL-1"])["prints"]
        assert [p["kind"] for p in prints] == ["original", "interrupted_retry"], prints
        assert prints[0]["state"] == "interrupted" and "daemon restart" in prints[0]["outcome"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sigkill_after_202_before_the_first_byte(
    daemon_factory: Callable[..., DaemonProcess], dialect: str
) -> None:
    with Emulator(speed_mm_s=2000.0, dialect=dialect) as emu:
        emu.start_tcp()
        emu.inject("paper_out")
        daemon = daemon_factory({"front": printer_url(emu, dialect)})
        daemon.wait_state("paper_out")
        rid = daemon.submit({"document": sample_document("HELD-1", lines=3)})["id"]
        held = daemon.receipt(rid)
        assert held["state"] == "queued" and held["prints"][0]["sent_at"] is None, held
        daemon.kill()
        daemon.start()
        daemon.wait_state("paper_out")
        assert daemon.receipt(rid)["state"] == "queued"
        emu.clear("paper_out")
        verify(Rig(emu, daemon, "tcp", dialect=dialect), {"HELD-1": rid},
               f"{dialect}: sigkill before first byte")
        assert [o for o in occurrences(emu) if o[0] == "HELD-1"] == [("HELD-1", False, True)]
        prints = daemon.receipt(rid)["prints"]
        assert [(p["kind"], p["state"], p["confirmation"]) for p in prints] == [
            ("original", "printed", "process_id")], prints


@pytest.mark.parametrize("dialect", DIALECTS)
def test_restarts_count_against_the_attempt_limit(tmp_path: Path, dialect: str) -> None:
    """A print in doubt at every start used to be requeued at every start, for ever: each
    restart is an interrupted attempt, and at the printer's limit the print is held."""
    with Emulator(speed_mm_s=2000.0, dialect=dialect) as emu:
        emu.start_tcp()
        config = tmp_path / "crash.toml"
        star = f'dialect = "star"\nprofile = "{STAR_PROFILE}"\n' if dialect == "star" else ""
        config.write_text(f'[printers.front]\nurl = "{emu.tcp_url}"\nmax_print_attempts = 2\n'
                          + star)
        daemon = DaemonProcess(tmp_path, {"front": printer_url(emu, dialect)},
                               extra_args=["--config", str(config)])
        daemon.start()
        try:
            assert daemon.printer()["dialect"] == dialect
            emu.inject("slow", mm_per_s=0.5)  # busy and answering: the print stays in flight
            rid = daemon.submit({"document": sample_document("KILLED", lines=3)})["id"]
            for attempt in (1, 2):

                def in_flight(n: int = attempt) -> bool:
                    return any(p["state"] == "sending" and p["attempt"] == n
                               for p in daemon.receipt(rid)["prints"])

                wait_until(in_flight, timeout=20, what=f"attempt {attempt} in flight")
                daemon.kill()
                daemon.start()
            wait_until(lambda: daemon.receipt(rid)["state"] == "held", timeout=20,
                       what="held at the limit")
            prints = daemon.receipt(rid)["prints"]
            assert [(p["state"], p["outcome"]) for p in prints[:2]] == [
                ("interrupted", "daemon restart")] * 2, prints
            assert prints[2]["state"] == "held", prints
            emu.clear("slow")
            emu.wait_idle(20)
            assert daemon.receipt(rid)["state"] == "held"  # nothing more without a person
            r = daemon.clients["cashier"].post(f"/v1/receipts/{rid}/reprint")
            assert r.status_code == 202, r.text
            verify(Rig(emu, daemon, "tcp", dialect=dialect), {"KILLED": rid},
                   f"{dialect}: held after restarts")
            assert any(marked and whole for tag, marked, whole in occurrences(emu)
                       if tag == "KILLED")
            # Proven by the printer (process ID, or on Star the ETB counter), not by status.
            assert daemon.receipt(rid)["prints"][-1]["confirmation"] == "process_id"
        finally:
            daemon.close()
