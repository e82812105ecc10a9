"""Structured logs for journald: JSON when stderr is not a terminal, readable when it is.

Every line carries ``printer`` and ``receipt`` when they are bound. Receipt *contents* never
go to the log; byte traffic goes to the separate ``receiptd.wire`` logger, off by default.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


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
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
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
    # uvicorn's own access log would duplicate ours; keep its errors.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
