"""Structured logs for journald: JSON when stderr is not a terminal, readable when it is.

Every line carries ``printer`` and ``receipt`` when they are bound. Receipt *contents* never
go to the log; byte traffic goes to the separate ``receiptd.wire`` logger, off by default.

Warnings and errors that repeat word for word (the same event with the same fields: an accept
loop out of file descriptors, a client sending garbage over and over) are rate-limited: the
first ``REPEAT_BURST`` go through, then one per ``REPEAT_EVERY_S``, and the next line that
goes through says how many were left out (``suppressed``). Without that, one such loop wrote
690 MB of log in 40 s. Lines of other libraries (asyncio, uvicorn) go through the same limit
and the same renderer.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable, MutableMapping
from typing import Any, Literal

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}
REPEAT_BURST = 10
REPEAT_EVERY_S = 6.0
_LIMITED_LEVELS = {"warning", "error", "critical", "exception"}


class RepeatLimiter:
    """Per kind of line: ``burst`` at once, then one per ``every_s``; counts what it holds
    back. Thread-safe; remembers the ``max_kinds`` most recent kinds."""

    def __init__(self, burst: int = REPEAT_BURST, every_s: float = REPEAT_EVERY_S, *,
                 clock: Callable[[], float] = time.monotonic, max_kinds: int = 1024) -> None:
        self._burst = float(burst)
        self._every = every_s
        self._clock = clock
        self._max = max_kinds
        self._lock = threading.Lock()
        # kind -> (allowance left, when, lines held back since the last one let through)
        self._kinds: collections.OrderedDict[Hashable, tuple[float, float, int]] = (
            collections.OrderedDict())

    def allow(self, kind: Hashable) -> tuple[bool, int]:
        """(let this line through?, lines of this kind held back before it)."""
        with self._lock:
            now = self._clock()
            left, at, held = self._kinds.get(kind, (self._burst, now, 0))
            left = min(self._burst, left + (now - at) / self._every)
            if left >= 1:
                self._kinds[kind] = (left - 1, now, 0)
                passed = (True, held)
            else:
                self._kinds[kind] = (left, now, held + 1)
                passed = (False, held + 1)
            self._kinds.move_to_end(kind)
            while len(self._kinds) > self._max:
                self._kinds.popitem(last=False)
            return passed


class LimitRepeats:
    """structlog processor: drop warnings and errors that repeat word for word too often."""

    def __init__(self, limiter: RepeatLimiter) -> None:
        self._limiter = limiter

    def __call__(self, logger: Any, method: str,
                 event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if event.get("level", method) not in _LIMITED_LEVELS:
            return event
        kind = tuple(sorted((k, repr(v)) for k, v in event.items() if k != "timestamp"))
        passed, held = self._limiter.allow(kind)
        if not passed:
            raise structlog.DropEvent
        if held:
            event["suppressed"] = held
        return event


class _RepeatFilter(logging.Filter):
    """The same limit for other libraries' records, by logger, level and message template."""

    def __init__(self, limiter: RepeatLimiter) -> None:
        super().__init__()
        self._limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        passed, held = self._limiter.allow((record.name, record.levelno, str(record.msg)))
        if passed and held:
            record.msg = f"{record.msg} ({held} like it suppressed)"
        return passed


def configure(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    *,
    wire: bool = False,
) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    limiter = RepeatLimiter()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            LimitRepeats(limiter),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    wire_logger = logging.getLogger("receiptd.wire")
    wire_logger.setLevel(logging.DEBUG if wire else logging.CRITICAL + 1)
    if wire and not wire_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s wire %(message)s"))
        wire_logger.addHandler(handler)
    # Other libraries' warnings and errors: rate-limited, rendered like ours.
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "receiptd", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.receiptd = True  # type: ignore[attr-defined]  # ours, replaced on reconfigure
    handler.setLevel(logging.WARNING)
    handler.addFilter(_RepeatFilter(limiter))
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           structlog.processors.TimeStamper(fmt="iso", utc=True),
                           structlog.processors.format_exc_info],
    ))
    root.addHandler(handler)
    # uvicorn's own access log would duplicate ours; keep its errors.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
