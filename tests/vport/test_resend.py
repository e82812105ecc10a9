"""receiptd.vport.resend: which job is a resend, with a clock the test turns."""

from __future__ import annotations

from receiptd.vport.resend import ResendWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_job_seen_within_the_window_is_a_resend_of_the_first() -> None:
    clock = Clock()
    window = ResendWindow(10.0, clock)
    key = ResendWindow.key(b"coffee\n")
    assert window.original(key) is None
    window.remember(key, 7)
    clock.now += 9.9
    assert window.original(key) == 7
    assert window.original(ResendWindow.key(b"tea\n")) is None
    clock.now += 0.2  # counted from the original, not from the resend
    assert window.original(key) is None


def test_a_window_of_zero_never_sees_a_resend() -> None:
    window = ResendWindow(0.0, Clock())
    key = ResendWindow.key(b"coffee\n")
    window.remember(key, 1)
    assert window.original(key) is None
