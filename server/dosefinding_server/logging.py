"""structlog configured for one JSON object per line on standard error.

Every event carries the process id (``pid``): a server with several worker processes logs from each,
and each event is written with one ``write`` (line and newline together), so the processes' lines
never interleave in a shared log file.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog


def _add_pid(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    event["pid"] = os.getpid()
    return event


def configure_logging(level: str = "info") -> None:
    """JSON lines with an ISO UTC timestamp and the log level; idempotent."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_pid,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
