"""receiptd.document.raw.sanitize: what a virtual printer port keeps, drops, answers.

The differential fuzz at the end holds the sanitizer to the same standard as ``check_raw``
(tests/document/test_raw_differential.py): whatever it outputs, the emulated printer runs
nothing but allowed commands, no real-time command and no process-ID request from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiptd.document.raw import check_raw
from receiptd.document.raw.sanitize import Query, Sanitized, Sanitizer
from receiptd.errors import RawRejected

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import raw_fuzz

H = bytes.fromhex
PID = H("1d 28 48 06 00 30 30 41 42 43 44")  # GS ( H fn 48 "ABCD"


def run(data: bytes, step: int = 0) -> tuple[Sanitized, list[Query]]:
    """Sanitize ``data`` fed whole (step 0) or ``step`` bytes at a time."""
    s = Sanitizer()
    queries: list[Query] = []
    for i in range(0, len(data), step or max(1, len(data))):
        queries += s.feed(data[i:i + (step or len(data))])
    result, rest = s.finish()
    return result, queries + rest


ALLOWED = [
    b"Hello\n",
    H("1b 40 1b 21 08") + b"Total 4.50\n" + H("1d 56 42 03"),
    H("1d 76 30 00 02 00 02 00 1b 40 1d 61"),  # raster whose data looks like commands
    H("1d 28 6b 07 00 31 50 30 41 42 43 44 1d 28 6b 03 00 31 51 30"),  # QR store + print
    H("1b 70 00 19 fa"),  # drawer kick
    H("1c 26 ba cf 0a 1c 2e"),  # Kanji on, a pair, off
    H("1d 6b 04") + b"12345" + H("00"),
]


@pytest.mark.parametrize("data", ALLOWED, ids=range(len(ALLOWED)))
def test_allowed_input_passes_unchanged(data: bytes) -> None:
    for step in (0, 1, 3):
        result, queries = run(data, step)
        assert result.data == data and result.dropped == {} and queries == []


DROPPED = [
    ("GS ( E fn 1", H("1d 28 45 03 00 01 49 4e")),  # user-setting mode
    ("GS ( H fn 49", H("1d 28 48 03 00 31 30 02")),  # offline response on
    ("GS ( k fn 82", H("1d 28 6b 03 00 31 52 30")),  # transmit QR size
    ("GS ( L fn 66", H("1d 28 4c 02 00 30 42")),  # NV graphics: transmit the key codes
    ("GS 8 L fn 67", H("1d 38 4c 02 00 00 00 30 43")),  # NV graphics: define
    ("ESC =", H("1b 3d 02")),  # deselect the printer
    ("ESC L", H("1b 4c")),  # page mode
    ("GS :", H("1d 3a")),  # macro
    ("GS g", H("1d 67 32 00 14 00")),  # maintenance counter
    ("FS C", H("1c 43 01")),  # Kanji code system
    ("DLE DC4 2", H("10 14 02 01 08")),  # power off
    ("DLE DC4 8", H("10 14 08 01 03 14 01 06 02 08")),  # clear buffers
    ("DLE ENQ", H("10 05 02")),  # recover
    ("ESC u", H("1b 75 00")),  # drawer status
]


@pytest.mark.parametrize(("name", "cmd"), DROPPED, ids=[d[0] for d in DROPPED])
def test_a_forbidden_command_is_dropped_whole_and_counted(name: str, cmd: bytes) -> None:
    data = b"before\n" + cmd + b"after\n" + H("1d 56 00")
    for step in (0, 1):
        result, queries = run(data, step)
        assert result.data == b"before\nafter\n" + H("1d 56 00")
        assert result.dropped == {name: 1} and queries == []
        check_raw(result.data)


def test_status_questions_are_handed_out_in_order_and_never_kept() -> None:
    data = (H("10 04 01") + b"A\n" + H("1d 61 4f 1d 72 01 1d 49 43 10 14 07 01") + b"B\n"
            + PID + H("10 04 04"))
    for step in (0, 1, 2):
        result, queries = run(data, step)
        assert result.data == b"A\nB\n"
        assert [(q.name, q.n, q.pid, q.at) for q in queries] == [
            ("DLE EOT", 1, b"", 0), ("GS a", 0x4F, b"", 2), ("GS r", 1, b"", 2),
            ("GS I", 67, b"", 2), ("DLE DC4 7", 1, b"", 2), ("GS ( H fn 48", 0, b"ABCD", 4),
            ("DLE EOT", 4, b"", 4)]
        assert result.answered["DLE EOT 1"] == 1 and result.answered["GS ( H fn 48"] == 1


def test_a_question_is_handed_out_as_soon_as_its_last_byte_arrives() -> None:
    s = Sanitizer()
    assert s.feed(b"Hello\n\x10") == []
    assert s.feed(b"\x04") == []
    assert [q.name for q in s.feed(b"\x02")] == ["DLE EOT"]
    assert [q.pid for q in s.feed(PID)] == [b"ABCD"]


def test_a_real_time_drawer_pulse_becomes_the_buffered_kick() -> None:
    result, _ = run(b"paid\n" + H("10 14 01 00 02"))
    assert result.data == b"paid\n" + H("1b 70 00 64 64")
    assert result.converted == {"DLE DC4 1 -> ESC p": 1}


def test_real_time_bytes_in_raster_data_lose_one_dot() -> None:
    raster = H("1d 76 30 00 04 00 01 00 10 04 01 ff")
    result, queries = run(raster + H("1d 56 00"))
    assert result.data == H("1d 76 30 00 04 00 01 00 00 04 01 ff 1d 56 00")
    assert result.dots_cleared == 1 and queries == []


@pytest.mark.parametrize(("data", "code"), [
    (H("1b 99 00") + b"x\n", "raw_unknown_command"),  # unknown: its length is unknown too
    (H("1d 44 30 43 30"), "raw_forbidden_command"),  # GS D: length depends on its data
    (H("1b 21 10 04") + b"x\n", "raw_realtime_sequence"),  # a parameter 10 before an EOT
    (H("1d 6b 04") + b"A" * 300 + H("00"), "raw_bad_parameter"),
    (H("10 14 09 00"), "raw_unknown_command"),
])
def test_a_job_the_walk_cannot_follow_is_refused_with_its_code(data: bytes, code: str) -> None:
    with pytest.raises(RawRejected) as info:
        run(data)
    assert info.value.code == code


def test_a_command_cut_off_by_the_end_of_the_job_is_dropped() -> None:
    result, _ = run(b"ok\n" + H("1d 76 30 00 10 00 10 00 ff ff"))
    assert result.data == b"ok\n" and list(result.dropped) == ["truncated 1D 76 30"]


def test_kanji_mode_left_on_is_turned_off_and_a_trailing_dle_is_closed() -> None:
    assert run(H("1c 26 ba cf"))[0].data == H("1c 26 ba cf 1c 2e")
    assert run(b"x" + H("1b 21 10"))[0].data == b"x" + H("1b 21 10 00")


def test_a_job_of_questions_and_resets_prints_nothing() -> None:
    assert run(H("1b 40 10 04 01 1d 72 01 00"))[0].empty
    assert not run(H("1b 40") + b"x")[0].empty


@given(st.binary(max_size=200), st.integers(1, 17))
def test_feeding_in_pieces_gives_what_feeding_whole_does(data: bytes, step: int) -> None:
    try:
        whole = run(data)
    except RawRejected as exc:
        with pytest.raises(RawRejected) as info:
            run(data, step)
        assert info.value.code == exc.code
        return
    assert run(data, step) == whole


# -- differential fuzz -----------------------------------------------------------------------

EXAMPLES = 3000  # ~20 s; every one runs, however busy the machine: no time budget


@pytest.mark.timeout(600)
def test_whatever_the_sanitizer_outputs_the_printer_runs_as_allowed() -> None:
    tally = raw_fuzz.Tally()
    questions = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(raw_fuzz.case, st.integers(1, 64))
    def check(case: tuple[bytes, str, str, bool], step: int) -> None:
        nonlocal questions
        raw, profile, cjk, marked = case
        tally.examples += 1
        try:
            result, queries = run(raw, step)
        except RawRejected as exc:
            tally.rejected[exc.code] += 1
            return
        questions += len(queries)
        if result.empty:
            return
        tally.accepted += 1
        problems = raw_fuzz.findings(result.data, profile, cjk, marked)
        if problems:
            tally.found.append({"raw": raw.hex(" "), "out": result.data.hex(" "),
                                "profile": profile, "cjk": cjk, "problems": problems})

    check()
    print(f"sanitizer differential fuzzing: {tally.as_dict()}, questions={questions}")
    assert tally.found == [], tally.found[:5]
    assert tally.examples >= EXAMPLES // 4, tally.as_dict()
    # The point of dropping rather than refusing: most inputs print (check_raw takes ~1/5).
    assert tally.accepted >= tally.examples // 3, tally.as_dict()


def test_a_process_id_after_print_data_can_end_the_job() -> None:
    s = Sanitizer(end_at_process_id=True)
    assert [q.pid for q in s.feed(b"one\n" + PID + b"two\n")] == [b"ABCD"]
    assert s.ended and s.rest() == b"two\n" and s.received == 4 + len(PID)
    assert s.finish()[0].data == b"one\n"
    s = Sanitizer(end_at_process_id=True)  # before any print data it ends nothing
    s.feed(PID + b"two\n")
    assert not s.ended


HEADER_WALKS = 64  # bytes walked again while a command's header arrives byte by byte


class CountingSanitizer(Sanitizer):
    """The real sanitizer, counting the bytes each walk starts from (what it must go over)."""

    walked = 0

    def _walk(self, final: bool) -> list[Query]:
        self.walked += len(self._pending) + sum(map(len, self._chunks))
        return super()._walk(final)


def test_a_job_trickling_in_byte_by_byte_costs_linear_time() -> None:
    """A long image or text run sent one byte at a time is not walked again from its start on
    every byte (which would keep the event loop busy for minutes on 256 KiB): the bytes walked
    stay within twice the bytes fed, where walking from the start each time is n²/2."""
    raster = H("1d 76 30 00 48 00 00 04") + b"\x55" * (72 * 1024)
    text = b"A" * 65536 + b"\n"
    for data in (raster, text):
        s = CountingSanitizer()
        for i in range(len(data)):
            assert s.feed(data[i:i + 1]) == []
            # A command's header is walked again as it grows (a few dozen bytes); beyond
            # that, quadratic fails here within the first few hundred bytes.
            assert s.walked <= 2 * (i + 1) + HEADER_WALKS, (i, s.walked)
        assert s.finish()[0].data == data
        assert len(data) <= s.walked <= len(data) + HEADER_WALKS, s.walked  # the run, once
