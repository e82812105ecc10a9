"""printer.etb: a probe of the session's own left in the printer's buffer by a reset (a silent
printer back, a link dropped and made again) is read ahead of the new probe. Every pair of
probes is tried, so nothing here depends on the random run lengths.

The counter values a Star printer reports then: the stale probe's runs ``1..a1``, ``1..7``,
the stale counter again (the new greeting's ``ESC RS a 1`` and ``ESC ACK SOH`` answer at once),
then the new probe's ``1..a2``, ``1..7``, with a 0 wherever a status inquiry lands just after
a clear. The probe used to be two random runs matched step by step: a stale run sharing a
prefix with ours left the match half-way and ours was never learned (the printer fell back to
confirmation by status: seen in the fault matrix, a silent Star printer back), or it was taken
for ours half-way, one ETB before its end, when a print's ETB placed at once would have been
"proven" by the stale probe's next ETB.
"""

from __future__ import annotations

import itertools

import pytest

from receiptd.printer.etb import MAX_OPEN, PROBE_FIRST_MAX, PROBE_LAST, PROBE_MIN, EtbTrack
from receiptd.protocol import star

FIRST = range(PROBE_MIN, PROBE_FIRST_MAX + 1)


def stream(stale_first: int, first: int, zeros: bool) -> list[int]:
    z = [0] if zeros else []
    return [5, 5, *z, *range(1, stale_first + 1), *z, *range(1, PROBE_LAST + 1),
            PROBE_LAST, PROBE_LAST, *z, *range(1, first + 1), *z, *range(1, PROBE_LAST + 1)]


def test_the_probe_is_a_random_first_run_and_a_fixed_longer_last() -> None:
    clear = star.clear_etb_counter()
    for first in FIRST:
        assert EtbTrack().probe(first) == (clear + star.etb() * first
                                           + clear + star.etb() * PROBE_LAST)
    seen = set()
    for _ in range(200):
        runs = [len(p) for p in EtbTrack().probe().split(clear)[1:]]
        assert runs[1] == PROBE_LAST and runs[0] in FIRST
        seen.add(runs[0])
    assert seen == set(FIRST)
    with pytest.raises(ValueError):
        EtbTrack().probe(PROBE_LAST)
    # Falling back from the last run's end to anything a probe reports first is more than
    # the open ETBs can ever explain: a stale probe taken for ours is a jump at once.
    assert all(star.etb_advance(PROBE_LAST, v) > MAX_OPEN for v in range(PROBE_LAST))


@pytest.mark.parametrize("zeros", [False, True], ids=["no-zeros", "zeros"])
@pytest.mark.parametrize(("stale", "ours"), list(itertools.product(FIRST, FIRST)))
def test_a_stale_probe_never_keeps_ours_from_being_learned(stale: int, ours: int,
                                                           zeros: bool) -> None:
    track = EtbTrack()
    track.probe(ours)
    reports = [(v, track.reported(v)) for v in stream(stale, ours, zeros)]
    learned_at = [i for i, (_, r) in enumerate(reports) if r.learned]
    jumps = [i for i, (_, r) in enumerate(reports) if r.jump]
    if stale != ours:
        # Only ours teaches, at its very last value; nothing before it is a jump.
        assert (learned_at, jumps) == ([len(reports) - 1], []), reports
        assert track.learned and track.value == PROBE_LAST
        return
    # The stale probe is ours to the value: taken for it at its own end, and the very next
    # value of ours is a jump (the session probes again), before any ETB can be proven.
    assert learned_at[0] == 2 + (1 if zeros else 0) + stale + (1 if zeros else 0) + PROBE_LAST - 1
    first_move = next(i for i, (v, _) in enumerate(reports)
                      if i > learned_at[0] and v != PROBE_LAST)
    assert jumps and jumps[0] == first_move, reports


def test_a_print_placed_right_after_a_stale_probe_is_not_proven_by_ours() -> None:
    for v in range(PROBE_LAST):  # whichever of our own probe's values comes first
        track = EtbTrack()
        track.probe(3)
        for stale in (*range(1, 4), *range(1, PROBE_LAST + 1)):  # a stale probe like ours
            report = track.reported(stale)
        assert report.learned
        assert all(track.place("print", f"P{i}") for i in range(MAX_OPEN))  # all that may be
        report = track.reported(v)
        assert report.jump and not report.done, (v, report)  # nothing taken as proven
