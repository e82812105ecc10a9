"""What the link tests share: a call that must return, bounded by a wait generous enough to
mean "it hangs" rather than "it was slow" (these machines are shared; speed is bench/'s)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: A call not returned by then never will: a hang, not a slow machine.
GENEROUS_S = 30.0
#: A link timeout no test waits out: a call given it that returns did not wait for it.
FOREVER_S = 3600.0


def returned(call: Callable[[], T]) -> T:
    """``call()``'s result, or the exception it raised, run in a thread that must finish within
    ``GENEROUS_S``."""
    result: list[T] = []
    raised: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed back to the caller as it is
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GENEROUS_S)
    assert not thread.is_alive(), f"{call} had not returned after {GENEROUS_S} s"
    if raised:
        raise raised[0]
    return result[0]
