"""Flow marks: what the printer has printed of a paced print (receiptd.printer.flow)."""

from __future__ import annotations

from receiptd.printer.flow import FLOW_LIMIT, FlowMarks
from receiptd.protocol import is_pid


def test_marks_prove_printing_in_order_and_pace_the_writes() -> None:
    flow = FlowMarks()
    assert flow.has_room(10 * FLOW_LIMIT)  # no mark open: nothing to wait for
    first, second = flow.mark(1000), flow.mark(3000)
    assert first and second and first != second
    assert not flow.has_room(3000 + 1000)  # 4000 unprinted, marks open
    assert flow.answered(second)  # answered in order: the first is done too
    assert flow.printed == 3000 and flow.has_room(3000 + FLOW_LIMIT)
    assert not flow.answered(first)  # not ours any more
    assert not flow.answered("AB12")  # a print's process ID is never a flow mark


def test_a_mark_id_is_a_process_id_no_print_can_have() -> None:
    flow = FlowMarks()
    for n in range(1200):
        pid = flow.mark(n)
        assert pid is not None and is_pid(pid) and pid.endswith(" ")
        flow.answered(pid)


def test_reset_forgets_marks_a_cleared_buffer_took_with_it() -> None:
    flow = FlowMarks()
    flow.mark(500)
    assert not flow.has_room(500 + FLOW_LIMIT + 1)
    flow.reset(5000)
    assert flow.has_room(5000 + FLOW_LIMIT) and flow.printed == 5000
