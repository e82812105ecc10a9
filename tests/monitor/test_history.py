"""Fault history, MTTR and roll tracking from printer events (pure: events in, numbers out),
and the STATUS= wording."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from receiptd.journal import Journal, Print, PrinterEvent
from receiptd.monitor.health import PrinterHistory, WorkerRecord, problems, status_part
from receiptd.printer import PrinterState, Snapshot

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def ev(i: int, at_s: float, state: str, flags: tuple[str, ...] = (), paper_mm: float = 0.0,
       previous: str | None = None) -> PrinterEvent:
    return PrinterEvent(id=i, printer="front", at=T0 + timedelta(seconds=at_s), state=state,
                        previous=previous, cause=None,
                        detail={"flags": list(flags), "paper_mm": paper_mm})


def feed(*events: PrinterEvent) -> PrinterHistory:
    h = PrinterHistory("front")
    for e in events:
        h.feed(e)
    return h


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def test_durations_counts_and_mttr() -> None:
    h = feed(
        ev(1, 0, "online"),
        ev(2, 10, "paper_out", ("offline", "paper_end")),
        ev(3, 40, "online"),
        ev(4, 100, "cover_open", ("offline", "cover_open")),
        ev(5, 110, "paper_out", ("offline", "paper_end")),  # one outage, two states
        ev(6, 130, "online"),
    )
    s = h.summary(now=at(200))
    assert s["faults"] == {"paper_out": {"count": 2, "seconds": 50.0},
                           "cover_open": {"count": 1, "seconds": 10.0}}
    assert s["outages"] == s["recovered"] == 2
    assert s["mttr_s"] == pytest.approx((30 + 30) / 2)
    assert s["current_outage"] is None


def test_open_outage_and_unknown_does_not_end_it() -> None:
    h = feed(
        ev(1, 0, "online"),
        ev(2, 10, "paper_out", ("paper_end",)),
        ev(3, 20, "unknown", ("paper_end",)),  # daemon stopped
        ev(4, 60, "paper_out", ("paper_end",)),  # started again: still out
    )
    s = h.summary(now=at(70))
    assert s["recovered"] == 0 and s["mttr_s"] is None and s["outages"] == 1
    assert s["current_outage"]["seconds"] == 60.0
    assert s["faults"]["paper_out"] == {"count": 2, "seconds": 20.0}  # 10 s + 10 s (open)
    h.feed(ev(5, 90, "online"))
    assert h.summary(now=at(90))["mttr_s"] == 80.0


def test_paper_near_end_is_not_an_outage_and_offline_is() -> None:
    h = feed(ev(1, 0, "online"), ev(2, 5, "paper_near_end", ("paper_near_end",)),
             ev(3, 10, "offline"), ev(4, 12, "paper_near_end", ("paper_near_end",)))
    s = h.summary(now=at(20))
    assert s["faults"] == {"offline": {"count": 1, "seconds": 2.0}}
    assert s["recovered"] == 1 and s["mttr_s"] == 2.0


@pytest.mark.parametrize(
    ("events", "loaded"),
    [
        # paper out, then ready: a new roll, counted from that event's paper_mm
        ([("paper_out", ("paper_end",), 900.0), ("online", (), 900.0)], True),
        # opening the cover to load paper first still counts once paper is in
        ([("paper_out", ("paper_end",), 900.0), ("cover_open", ("cover_open", "paper_end"),
                                                 900.0), ("online", (), 900.0)], True),
        # out, then a lost link (stale flags), then back with paper: a new roll
        ([("paper_out", ("paper_end",), 900.0), ("offline", ("paper_end",), 900.0),
          ("online", (), 900.0)], True),
        # near end cleared: the roll was changed before it ran out
        ([("paper_near_end", ("paper_near_end",), 900.0), ("online", (), 900.0)], True),
        # a cover opened and closed without paper trouble: same roll
        ([("cover_open", ("cover_open",), 900.0), ("online", (), 900.0)], False),
        # out, still out after a restart: not yet
        ([("paper_out", ("paper_end",), 900.0), ("unknown", ("paper_end",), 900.0),
          ("offline", (), 900.0)], False),
    ],
)
def test_new_roll_detection(events: list[tuple[str, tuple[str, ...], float]],
                            loaded: bool) -> None:
    h = feed(ev(0, 0, "online"), *(ev(i + 1, i + 1, s, f, mm)
                                    for i, (s, f, mm) in enumerate(events)))
    roll = h.roll(1000.0, roll_length_m=2.0)
    if loaded:
        assert roll["roll_loaded_at"] is not None
        assert roll["used_since_roll_mm"] == 100.0 and roll["roll_remaining_mm"] == 1900.0
    else:
        assert roll["roll_loaded_at"] is None
        assert roll["used_since_roll_mm"] == 1000.0 and roll["roll_remaining_mm"] == 1000.0


def test_low_estimate_threshold() -> None:
    h = PrinterHistory("front")
    assert not h.roll(0.0, 80)["low_estimate"]
    assert not h.roll(71_999.0, 80)["low_estimate"]  # 8001 mm left of 80 m: 10% is 8 m
    assert h.roll(72_001.0, 80)["low_estimate"]
    assert h.roll(200.0, 1.0)["low_estimate"]  # short rolls: below 1 m left
    assert h.roll(10.0, None) == {**h.roll(10.0, None), "roll_remaining_mm": None,
                                  "low_estimate": False}


def test_history_loads_from_a_real_journal(tmp_path: Any) -> None:
    with Journal(tmp_path / "j.db") as journal:
        for state, flags in (("online", []), ("jam", []), ("mechanical_error", ["offline"]),
                             ("online", [])):
            journal.events.record(printer="front", state=state, previous=None,
                                  cause=None, detail={"flags": flags})
        journal.events.record(printer="other", state="offline", previous=None,
                              cause=None, detail={})
        h = PrinterHistory("front")
        h.load(journal)
    s = h.summary()
    assert s["events"] == 4 and s["recovered"] == 1
    assert s["faults"]["mechanical_error"]["count"] == 1
    assert "jam" not in s["faults"]  # not a state: ignored, never a crash


def snap(state: PrinterState, flags: list[str], *, connected: bool = True,
         confirmation: str = "process_id") -> Snapshot:
    return Snapshot(name="front", url="tcp://x", kind="tcp", state=state, since=time.time(),
                    cause="", flags=flags, connected=connected, confirmation=confirmation,
                    identity={}, last_error=None)


def test_problems_list_every_flag_and_ignore_stale_ones() -> None:
    h = PrinterHistory("front")
    both = problems(snap(PrinterState.COVER_OPEN, ["cover_open", "offline", "paper_end"]), h, {})
    assert [p["code"] for p in both] == ["cover_open", "paper_out"]
    assert [p["category"] for p in both] == ["operator", "consumable"]
    stale = problems(snap(PrinterState.OFFLINE, ["paper_end"]), h, {})
    assert [p["code"] for p in stale] == ["offline"]
    down = problems(snap(PrinterState.PAPER_OUT, ["paper_end"], connected=False), h, {})
    assert [p["code"] for p in down] == ["offline"]
    soft = problems(snap(PrinterState.ONLINE, [], confirmation="status"), h,
                    {"low_estimate": True})
    assert [(p["code"], p["category"]) for p in soft] == [
        ("paper_low_estimate", "consumable"), ("confirmation_status_only", "software")]
    assert all(p["hint"]["en"] and p["hint"]["zh"] for p in both + soft)


def test_status_part_wording() -> None:
    out = snap(PrinterState.PAPER_OUT, ["paper_end"])
    hhmm = time.strftime("%H:%M", time.localtime(out.since))
    assert status_part("front", out, 3, 0) == f"front: paper out since {hhmm}, 3 waiting"
    assert status_part("front", snap(PrinterState.ONLINE, []), 0, 1) == "front: ready, 1 printing"
    assert (status_part("front", snap(PrinterState.ONLINE, []), 0, 0, paper_low=True)
            == "front: ready, roll nearly used up")
    assert status_part("front", snap(PrinterState.UNKNOWN, []), 0, 0) == "front: connecting"
    assert (status_part("front", snap(PrinterState.ONLINE, []), 2, 0, held=1)
            == "front: ready, 2 waiting, 1 held")


def _print(receipt_id: int, state: str, at: datetime) -> Print:
    return Print(id=receipt_id * 10, receipt_id=receipt_id, printer="front",
                 kind="interrupted_retry", state=state, attempt=3, copy_number=None,
                 retry_of=None, marker=None, requested_by=None, reason="held after 2",
                 created_at=at, sent_at=None, finished_at=at if state == "failed" else None,
                 outcome="failed: damaged" if state == "failed" else None, confirmation=None)


def test_problems_show_held_and_failed_receipts_and_worker_errors() -> None:
    h = PrinterHistory("front")
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    held = [_print(7, "held", at), _print(9, "held", at)]
    failed = [_print(8, "failed", at)]
    workers = {"spool": WorkerRecord(errors=1, error="RuntimeError: boom", at=at.timestamp()),
               "printer": WorkerRecord()}
    out = problems(snap(PrinterState.ONLINE, []), h, {}, held, failed, workers)
    assert [(p["code"], p["category"]) for p in out] == [
        ("print_held", "operator"), ("print_failed", "software"), ("worker_error", "software")]
    assert out[0]["receipts"] == [7, 9] and out[1]["receipts"] == [8]
    assert out[2]["error"] == "RuntimeError: boom"
    assert all(p["hint"]["en"] and p["hint"]["zh"] and p["since"] for p in out)
    assert problems(snap(PrinterState.ONLINE, []), h, {}, [], [], {"spool": WorkerRecord()}) == []
