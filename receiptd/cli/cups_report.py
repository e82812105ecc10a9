"""What the CUPS backend tells cupsd, on stderr, in the backend message format (man 7 filter):
``STATE: +reason`` / ``STATE: -reason`` for the queue's printer-state-reasons, ``INFO:``,
``WARNING:`` and ``ERROR:`` for its printer-state-message.

receiptd's printer states become the IPP keywords CUPS clients already understand
(``lpstat -l -p`` "Alerts", desktop print dialogs), with the severity suffix CUPS's own
backends use: ``-error`` when printing stops for it, ``-warning`` for a problem that does not
stop it yet, ``-report`` for conditions CUPS itself reports that way (offline, doors/covers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

#: receiptd printer state -> printer-state-reasons keywords (RFC 8011 / CUPS backends).
REASONS: dict[str, tuple[str, ...]] = {
    "unknown": (),
    "online": (),
    "paper_near_end": ("media-low-warning",),
    "paper_out": ("media-empty-error", "media-needed-error"),
    "cover_open": ("cover-open-report",),
    "mechanical_error": ("media-jam-error",),
    # IPP has no keyword for a thermal printer's cutter or print head: "other", with the
    # receiptd hint in the state message saying which it is and what to do.
    "cutter_error": ("other-error",),
    "auto_recoverable_error": ("other-warning",),
    "unrecoverable_error": ("other-error",),
    "offline": ("offline-report",),
}
#: While receiptd itself cannot be reached (CUPS's own network backends say the same).
CONNECTING = "connecting-to-device"
ALL_REASONS = frozenset(r for reasons in REASONS.values() for r in reasons) | {CONNECTING}


def one_line(text: str) -> str:
    """A message on one line: cupsd reads stderr line by line."""
    return " ".join(text.split())


class Reporter:
    """Keeps the queue's reasons equal to what receiptd says now, changing only what moved."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown: set[str] = set()
        self.state = "unknown"  # the printer's last state receiptd reported

    def line(self, prefix: str, message: str) -> None:
        self.out.write(f"{prefix}: {one_line(message)}\n")
        self.out.flush()

    def info(self, message: str) -> None:
        self.line("INFO", message)

    def warning(self, message: str) -> None:
        self.line("WARNING", message)

    def error(self, message: str) -> None:
        self.line("ERROR", message)

    def debug(self, message: str) -> None:
        self.line("DEBUG", message)

    def show(self, reasons: Iterable[str]) -> None:
        """Make ``reasons`` (of ours) the queue's reasons: add the new, remove the gone."""
        want = set(reasons)
        gone, new = self.shown - want, want - self.shown
        if gone:
            self.line("STATE", "-" + ",".join(sorted(gone)))
        if new:
            self.line("STATE", "+" + ",".join(sorted(new)))
        self.shown = want

    def printer_state(self, state: str, hint: str | None = None) -> None:
        """The printer is in receiptd state ``state``; ``hint`` is receiptd's operator hint."""
        self.state = state
        self.show(REASONS.get(state, ("other-error",)))
        if hint and state not in ("online", "unknown"):
            self.info(f"{state.replace('_', ' ')}: {hint}")

    def printed(self) -> None:
        """The receipt came out: whatever fault was last reported is over. A roll near its
        end still is."""
        self.show(REASONS["paper_near_end"] if self.state == "paper_near_end" else ())

    def reset(self) -> None:
        """Forget reasons a previous run may have left on the queue (a backend killed while
        the paper was out): every reason this backend may set is removed once at start."""
        self.line("STATE", "-" + ",".join(sorted(ALL_REASONS)))
        self.shown = set()
