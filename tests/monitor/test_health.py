"""Printer health end to end: the real daemon, the emulator on loopback TCP, faults injected.

State, category and both hints per fault; fault history and MTTR from the journal's events
(surviving a SIGKILL); identity and GS g 2 counters from the emulator; the roll estimate;
the event history by time range; /metrics parsed with prometheus_client; systemd STATUS=
over a real AF_UNIX datagram socket.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from receiptd.emulator import Emulator
from receiptd.monitor.health import EXTRA_ADVICE
from receiptd.printer import ADVICE, PrinterState

from ..support import DaemonProcess, sample_document, wait_until

Factory = Callable[..., DaemonProcess]

# fault to inject, expected state, how to clear it
FAULTS: list[tuple[str, dict[str, Any], PrinterState, str]] = [
    ("near_end", {}, PrinterState.PAPER_NEAR_END, "near_end"),
    ("paper_out", {}, PrinterState.PAPER_OUT, "paper_out"),
    ("cover_open", {}, PrinterState.COVER_OPEN, "cover_open"),
    ("cutter_error", {}, PrinterState.CUTTER_ERROR, "cutter_error"),
    ("jam", {}, PrinterState.MECHANICAL_ERROR, "jam"),
    ("overheat", {"duration_s": 600}, PrinterState.AUTO_RECOVERABLE_ERROR, "overheat"),
    ("silent", {}, PrinterState.OFFLINE, "silent"),
]


def start(daemon_factory: Factory, emulator: Emulator, **kw: Any) -> DaemonProcess:
    port = emulator.start_tcp()
    d = daemon_factory({"front": f"tcp://127.0.0.1:{port}"}, **kw)
    d.wait_state("online")
    return d


def problem(health: dict[str, Any], code: str) -> dict[str, Any]:
    found = [p for p in health["problems"] if p["code"] == code]
    assert found, f"no problem {code!r} in {health['problems']}"
    return found[0]


def test_each_fault_has_state_category_and_both_hints(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    d = start(daemon_factory, emulator)
    assert d.printer()["problems"] == []
    for fault, kw, state, clear in FAULTS:
        emulator.inject(fault, **kw)
        h = d.wait_state(state.value)
        advice = ADVICE[state]
        assert h["category"] == advice.category
        assert h["hint"] == {"en": advice.en, "zh": advice.zh}
        code = "offline" if state == PrinterState.OFFLINE else state.value
        p = problem(h, code)
        assert p["category"] == advice.category in {
            "consumable", "operator", "hardware", "connection"}
        assert p["hint"]["en"] == advice.en and p["hint"]["zh"] == advice.zh
        assert p["since"] is not None
        emulator.clear(clear)
        h = d.wait_state("online")
        assert h["problems"] == [], (fault, h["problems"])
    # two flags at once: both reported, each with its own advice
    emulator.inject("paper_out")
    emulator.inject("cover_open")
    h = wait_until(lambda: {"cover_open", "paper_out"} <= {p["code"] for p in
                                                           d.printer()["problems"]}
                   and d.printer(), what="cover open and paper out both listed")
    assert h["state"] == "cover_open"  # the first thing to fix
    assert problem(h, "paper_out")["category"] == "consumable"
    assert problem(h, "cover_open")["category"] == "operator"
    emulator.clear("cover_open")
    emulator.clear("paper_out")
    d.wait_state("online")
    injected = time.monotonic()
    emulator.inject("unrecoverable")
    h = d.wait_state("unrecoverable_error")
    assert problem(h, "unrecoverable_error")["category"] == "hardware"
    # The history follows the journaled printer events, which the state reporter writes
    # after the state has changed: it may still show the outage before for a moment.
    outage = wait_until(lambda: (o := d.printer()["history"]["current_outage"])
                        and o["states"] == ["unrecoverable_error"] and o,
                        what="an outage of unrecoverable_error alone")
    assert outage["seconds"] <= time.monotonic() - injected  # counted from the fault, no earlier
    wait_until(lambda: d.printer()["history"]["current_outage"]["seconds"] > outage["seconds"],
               what="the outage to go on counting")


def test_identity_and_maintenance_counters_come_from_the_printer(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    d = start(daemon_factory, emulator)
    h = wait_until(lambda: (p := d.printer())["maintenance"].get("cuts_total") is not None
                   and p["identity"].get("serial") and p, what="identity and counters")
    assert h["identity"] == {"maker": "EPSON", "model": "TM-T88V", "firmware": "1.00 ESC/POS",
                             "serial": "RCPTEMU0001", "font": "PC437"}
    assert h["link"] == "tcp" and h["address"] == h["url"] and h["present"] is True
    assert h["confirmation"] == "process_id"
    cuts_before = h["maintenance"]["cuts_total"]
    for tag in ("A", "B"):
        d.wait_printed(d.submit({"document": sample_document(tag)})["id"])
    emu = emulator.snapshot()

    def refreshed() -> Any:
        m = d.printer()["maintenance"]
        return m.get("cuts_total") == cuts_before + 2 and m

    m = wait_until(refreshed, what="counters refreshed after the prints")
    assert m["cuts_total"] == emu["cumulative"]["cuts"]
    assert m["lines_fed_total"] > 0 and m["hours"] == 0 and m["at"]


def test_history_counters_and_mttr_move_and_survive_a_kill(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    d = start(daemon_factory, emulator)
    h0 = d.printer()["history"]
    assert h0["outages"] == 0 and h0["mttr_s"] is None and h0["faults"] == {}
    r1 = d.submit({"document": sample_document("ONE")})
    d.wait_printed(r1["id"])
    # a paper-out in the middle of a receipt: an interrupted print and its marked reprint
    emulator.arm("paper_out", after_mm=20)
    r2 = d.submit({"document": sample_document("TWO", lines=30)})
    d.wait_state("paper_out")
    time.sleep(0.3)  # the outage has a length (not a timing assertion: only "> 0" is checked)
    emulator.clear("paper_out")
    d.wait_printed(r2["id"])
    d.wait_state("online")
    emulator.inject("cover_open")
    d.wait_state("cover_open")
    emulator.clear("cover_open")
    d.wait_state("online")
    assert d.clients["cashier"].post(f"/v1/receipts/{r1['id']}/reprint").status_code == 202
    # The history follows the journaled printer events, written just after each change.
    h = wait_until(lambda: (p := d.printer())["history"]["copies_printed"] == 1
                   and p["history"]["current_outage"] is None and p,
                   what="the copy printed, and the cover's outage over")["history"]
    assert h["faults"]["paper_out"]["count"] == 1 and h["faults"]["paper_out"]["seconds"] > 0
    assert h["faults"]["cover_open"]["count"] == 1
    assert h["outages"] == h["recovered"] == 2 and h["current_outage"] is None
    assert h["mttr_s"] > 0
    total = h["faults"]["paper_out"]["seconds"] + h["faults"]["cover_open"]["seconds"]
    assert h["mttr_s"] == pytest.approx(total / 2, abs=0.01)
    assert h["printed"] == 2 and h["reprints_requested"] == 1
    assert h["reprints_interrupted"] == 1
    paper = d.printer()["paper"]
    assert paper["used_mm_total"] > 0
    assert paper["roll_loaded_at"] is not None  # paper_out then online: a new roll
    d.restart()  # SIGKILL, then a new process: the history comes from the journal
    d.wait_state("online")
    after = d.printer()["history"]
    for key in ("faults", "recovered", "mttr_s", "printed", "reprints_requested",
                "reprints_interrupted"):
        assert after[key] == h[key], key


def test_roll_estimate_warns_before_paper_out_and_resets_on_load(
    daemon_factory: Factory, emulator: Emulator, tmp_path: Path
) -> None:
    port = emulator.start_tcp()
    config = tmp_path / "receiptd.toml"
    # 1.2 m roll: the warning starts below 1 m left (the 1000 mm floor of the threshold)
    config.write_text(f'[printers.front]\nurl = "tcp://127.0.0.1:{port}"\nroll_length_m = 1.2\n')
    d = daemon_factory({}, extra_args=["--config", str(config)])
    d.wait_state("online")
    p = d.printer()["paper"]
    assert p["roll_length_mm"] == 1200.0 and p["roll_remaining_mm"] == 1200.0
    assert not p["low_estimate"]
    n = 0
    while not d.printer()["paper"]["low_estimate"]:
        n += 1
        assert n < 20, d.printer()["paper"]
        d.wait_printed(d.submit({"document": sample_document(f"R{n}", lines=30)})["id"])
    h = d.printer()
    assert h["state"] == "online"  # the printer itself has no idea yet
    advice = EXTRA_ADVICE["paper_low_estimate"]
    low = problem(h, "paper_low_estimate")
    assert low["category"] == "consumable" and low["hint"] == {"en": advice.en, "zh": advice.zh}
    assert h["paper"]["roll_remaining_mm"] < 1000.0
    assert h["paper"]["used_since_roll_mm"] == pytest.approx(h["paper"]["used_mm_total"], abs=0.2)
    emulator.inject("paper_out")
    d.wait_state("paper_out")
    emulator.clear("paper_out")  # a new roll
    # the state shows before the event that records it is journaled: wait for the estimate
    h = wait_until(lambda: (p := d.printer())["paper"]["roll_remaining_mm"] == 1200.0 and p,
                   what="a full roll again")
    assert h["state"] == "online" and h["paper"]["used_since_roll_mm"] == 0
    assert not h["paper"]["low_estimate"]
    assert all(p["code"] != "paper_low_estimate" for p in h["problems"])


def test_event_history_by_time_range(daemon_factory: Factory, emulator: Emulator) -> None:
    d = start(daemon_factory, emulator)
    admin = d.clients["admin"]
    emulator.inject("cover_open")
    d.wait_state("cover_open")
    middle = datetime.now(UTC)
    time.sleep(0.05)  # events on both sides of `middle` (timestamps have ms resolution)
    emulator.clear("cover_open")
    d.wait_state("online")
    everything = wait_until(
        lambda: (e := admin.get("/v1/printers/front/events").json()["events"])
        and e[0]["previous"] == "cover_open" and e, what="the recovery journaled")
    states = [e["state"] for e in everything]
    assert states == ["online", "cover_open", "online"]  # newest first
    assert everything[1]["detail"]["category"] == "operator"
    assert everything[1]["previous"] == "online"
    later = admin.get("/v1/printers/front/events",
                      params={"since": middle.isoformat()}).json()["events"]
    assert [e["state"] for e in later] == ["online"]
    earlier = admin.get("/v1/printers/front/events",
                        params={"until": middle.isoformat()}).json()["events"]
    assert [e["state"] for e in earlier] == ["cover_open", "online"]
    page = admin.get("/v1/printers/front/events", params={"limit": 1}).json()
    assert len(page["events"]) == 1 and page["next_before_id"] == everything[0]["id"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert admin.get("/v1/printers/front/events",
                     params={"since": future}).json()["events"] == []
    bad = admin.get("/v1/printers/front/events", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    unknown = admin.get("/v1/printers/nope/events")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_printer"
    assert d.clients["pos"].get("/v1/printers/front/events").status_code == 403
    system = admin.get("/v1/system", params={"check": "true"}).json()
    assert system["journal"]["check"] == ["ok"] and system["disk"]["free_bytes"] > 0
    assert abs(system["unix_time"] - time.time()) < 60
    assert d.clients["pos"].get("/v1/system").status_code == 403


def _metrics(d: DaemonProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = d.clients["admin"].get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _get(m: dict[Any, float], name: str, **labels: str) -> float:
    """The sample ``name{labels}``; a missing sample fails (a deleted metric must not read 0)."""
    key = (name, tuple(sorted(labels.items())))
    assert key in m, f"no sample {name}{labels}; {name} has {[k[1] for k in m if k[0] == name]}"
    return m[key]


def _before_first(m: dict[Any, float], name: str, **labels: str) -> float:
    """A labelled counter before its first increment: absent, or 0."""
    value = m.get((name, tuple(sorted(labels.items()))), 0.0)
    assert value == 0, (name, labels, value)
    return value


def test_metrics_move_with_prints_faults_and_queue(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    d = start(daemon_factory, emulator)
    m0 = _metrics(d)
    assert _get(m0, "receiptd_printer_state", printer="front", state="online") == 1
    assert _get(m0, "receiptd_printer_state", printer="front", state="paper_out") == 0
    assert _get(m0, "receiptd_printer_connected", printer="front") == 1
    assert _get(m0, "receiptd_journal_bytes") > 0
    r = d.submit({"document": sample_document("M1")})
    d.wait_printed(r["id"])
    m1 = _metrics(d)
    printed = ("receiptd_prints_total", {"printer": "front", "kind": "original",
                                         "result": "printed"})
    assert _get(m1, printed[0], **printed[1]) == _before_first(m0, printed[0], **printed[1]) + 1
    assert _get(m1, "receiptd_print_seconds_count", printer="front") == 1
    assert _get(m1, "receiptd_print_seconds_bucket", printer="front", le="+Inf") == 1
    assert _get(m1, "receiptd_confirmations_total", printer="front", method="process_id") == 1
    assert _get(m1, "receiptd_receipts_submitted_total", printer="front") == 1
    assert _get(m1, "receiptd_receipts_printed_total", printer="front") == 1
    assert _get(m1, "receiptd_paper_used_mm_total", printer="front") > 0
    emulator.inject("paper_out")
    d.wait_state("paper_out")
    waiting = d.submit({"document": sample_document("M2")})
    m2 = _metrics(d)
    assert _get(m2, "receiptd_printer_state", printer="front", state="paper_out") == 1
    assert _get(m2, "receiptd_printer_state", printer="front", state="online") == 0
    assert _get(m2, "receiptd_printer_faults_total", printer="front", state="paper_out") == 1
    assert _get(m2, "receiptd_queue_depth", printer="front") == 1
    assert _get(m2, "receiptd_queue_oldest_age_seconds", printer="front") > 0
    assert _get(m2, "receiptd_printer_fault_seconds_total", printer="front",
                state="paper_out") > 0
    assert d.clients["cashier"].post(f"/v1/receipts/{r['id']}/reprint").status_code == 202
    emulator.clear("paper_out")
    d.wait_printed(waiting["id"])
    wait_until(lambda: d.printer()["history"]["copies_printed"] == 1, what="copy printed")
    m3 = _metrics(d)
    assert _get(m3, "receiptd_queue_depth", printer="front") == 0
    assert _get(m3, "receiptd_prints_in_doubt", printer="front") == 0
    assert _get(m3, "receiptd_reprints_requested_total", printer="front") == 1
    assert _get(m3, "receiptd_prints_total", printer="front", kind="reprint",
                result="printed") == 1
    assert _get(m3, "receiptd_print_seconds_count", printer="front") == 3
    assert _get(m3, "receiptd_printer_outages_total", printer="front") == 1
    assert _get(m3, "receiptd_printer_mttr_seconds", printer="front") > 0
    # GS g 2 is asked again once the printer is idle after a print: the cuts show up
    wait_until(lambda: _get(_metrics(d), "receiptd_printer_maintenance", printer="front",
                            counter="cuts_total") == 3, what="maintenance counters")


def test_status_line_over_a_real_notify_socket(
    daemon_factory: Factory, emulator: Emulator, tmp_path: Path
) -> None:
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(0.2)
    seen: list[str] = []

    def statuses() -> list[str]:
        while True:
            try:
                data = notify.recv(4096).decode()
            except TimeoutError:
                return seen
            seen.extend(line[7:] for line in data.splitlines() if line.startswith("STATUS="))

    def wait_status(predicate: Callable[[str], bool], what: str, after: int = -1) -> int:
        """Index in ``seen`` of the first STATUS= after ``after`` that matches."""
        def find() -> int | None:
            lines = statuses()
            return next((i for i in range(after + 1, len(lines)) if predicate(lines[i])), None)

        found: int = wait_until(lambda: (i := find()) is not None and i + 1, what=what) - 1
        return found

    try:
        d = start(daemon_factory, emulator, extra_env={"NOTIFY_SOCKET": str(sock_path)})
        wait_status(lambda s: s == "front: ready", "STATUS=front: ready")
        emulator.inject("paper_out")
        h = d.wait_state("paper_out")
        for tag in ("S1", "S2", "S3"):
            d.submit({"document": sample_document(tag)})
        at = wait_status(lambda s: s.endswith("3 waiting"), "three waiting")
        since = datetime.strptime(h["since"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        local = time.strftime("%H:%M", time.localtime(since.timestamp()))
        assert seen[at] == f"front: paper out since {local}, 3 waiting"
        emulator.clear("paper_out")
        wait_status(lambda s: s == "front: ready", "ready again, nothing waiting", after=at)
    finally:
        notify.close()


def test_a_worker_that_dies_is_started_again_and_its_printer_health_says_so(
    tmp_path: Path,
) -> None:
    """Every worker runs supervised: one that dies of an error is started again, and the
    error shows in its printer's health instead of the printer silently stopping."""
    from receiptd.config import build_config
    from receiptd.daemon.wiring import Daemon

    daemon = Daemon(build_config({"daemon": {"journal": str(tmp_path / "journal.db")}}))
    runs: list[float] = []

    def worker() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("a bug in the spooler")

    daemon._spawn("spool-front", worker)
    wait_until(lambda: len(runs) == 2, timeout=10, what="the worker started again")
    record = daemon.health.printer_workers("front")["spool"]
    assert (record.errors, record.restarts) == (1, 1)
    assert record.error == "RuntimeError: a bug in the spooler"
    daemon.stop_workers(drain_timeout=1.0)
