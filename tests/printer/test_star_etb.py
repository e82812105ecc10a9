"""printer.etb: the Star ETB counter as proof of printing, through its wrap and its probe."""

from __future__ import annotations

from receiptd.printer.etb import BASE, FLOW_KEEPS, MAX_OPEN, PROBE_LAST, TOP, EtbTrack, Mark
from receiptd.protocol import star


def probe_runs(probe: bytes) -> list[int]:
    """The ETB runs of a probe: ``ESC RS E 0`` then ETBs, twice."""
    clear = star.clear_etb_counter()
    assert probe.startswith(clear)
    runs = [len(part) for part in probe.split(clear)[1:]]
    assert len(runs) == 2 and 2 <= runs[0] <= 6 and runs[1] == PROBE_LAST
    assert probe == b"".join(clear + star.etb() * r for r in runs)
    return runs


def values(runs: list[int]) -> list[int]:
    return [v for r in runs for v in range(1, r + 1)]


def learned() -> EtbTrack:
    track = EtbTrack()
    seq = values(probe_runs(track.probe()))
    for value in seq:
        report = track.reported(value)
    assert report.learned and track.learned
    assert track.value == seq[-1] == PROBE_LAST == BASE
    return track


def test_probe_is_learned_only_from_its_own_run() -> None:
    track = EtbTrack()
    seq = values(probe_runs(track.probe()))
    # Stale values (a dead process's ETBs still in the buffer) teach nothing.
    for value in (7, 8, 9, 17, seq[-1]):
        assert not track.reported(value).learned
    assert track.place("print", "AAAA") is None  # nothing confirmable before the probe
    assert not track.reported(0).learned  # a status inquiry right after the clear
    for value in seq[:-1]:
        assert not track.reported(value).learned
        assert not track.reported(value).learned  # a status inquiry repeats the value
    assert track.reported(seq[-1]).learned


def test_a_stale_probe_ahead_of_ours_is_not_taken_for_it() -> None:
    # A dead process's probe still in the buffer, then ours: only ours teaches.
    old, new = EtbTrack(), EtbTrack()
    stale = values(probe_runs(old.probe()))
    ours = values(probe_runs(new.probe()))
    for value in stale:  # the old run ends where no place of ours can be learned
        report = new.reported(value)
        if report.learned:  # only if the old probe was ours to the value (1 in 5)
            assert stale == ours
            return
    for value in ours:
        report = new.reported(value)
    assert report.learned


def test_a_broken_run_starts_over() -> None:
    track = EtbTrack()
    seq = values(probe_runs(track.probe()))
    track.reported(1)
    track.reported(12)  # not the probe's
    assert not track.reported(seq[-1]).learned
    for value in seq:
        report = track.reported(value)
    assert report.learned


def test_each_print_is_confirmed_by_its_own_advance_run_after_run() -> None:
    track = learned()
    counter = track.value  # the printer's
    rebases = 0
    for n in range(80):  # well past two turns of the 5-bit counter
        if track.rebase_due():
            assert track.rebase() == star.clear_etb_counter() + star.etb() * BASE
            rebases += 1
            counter = 0
            assert not track.reported(counter).done  # seen past the clear
        mark = track.place("print", f"P{n:03d}")
        assert mark is not None
        while counter < BASE:  # the rest of the rebase's ETBs, then the print's
            counter += 1
            assert not track.reported(counter).done
        counter += 1
        assert BASE < counter == mark.value <= TOP
        report = track.reported(counter)
        assert report.done == [mark]
        assert not track.reported(counter).done  # the same value again proves nothing new
    assert rebases >= 80 // (TOP - BASE)


def test_one_status_can_prove_several() -> None:
    track = learned()
    marks = [track.place("flow", "001 "), track.place("print", "AAAA"),
             track.place("print", "BBBB")]
    base = track.value
    assert track.reported(base + 2).done == marks[:2]
    assert track.reported(base + 3).done == marks[2:]


def test_an_advance_no_etb_explains_is_a_jump() -> None:
    track = learned()
    track.place("print", "AAAA")
    assert track.reported(track.value + 2).jump
    fresh = learned()
    assert fresh.reported(fresh.value + 5).jump  # a reset moved it, not us
    again = learned()
    again.place("print", "AAAA")
    assert again.reported(0).jump  # back at 0: a power cycle or a reset, not a clear of ours


def test_open_marks_stay_below_the_wrap() -> None:
    track = learned()
    flows = [track.place("flow", f"{n:03d} ") for n in range(MAX_OPEN)]
    assert sum(m is not None for m in flows) == MAX_OPEN - FLOW_KEEPS  # one kept for the print
    prints = [track.place("print", f"P{n:03d}") for n in range(MAX_OPEN)]
    assert sum(m is not None for m in prints) == FLOW_KEEPS
    assert [m.value for m in (*flows, *prints) if m is not None] == list(range(BASE + 1, TOP + 1))
    assert not track.rebase_due()  # never while marks are open


def test_unplace_only_the_newest() -> None:
    track = learned()
    a = track.place("print", "AAAA")
    b = track.place("print", "BBBB")
    assert isinstance(a, Mark) and isinstance(b, Mark)
    track.unplace(a)  # not the newest: it went out, it stays counted
    assert track.written == b.ordinal
    track.unplace(b)
    assert track.written == a.ordinal
    assert track.reported(track.value + 1).done == [a]
