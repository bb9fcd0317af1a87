"""The serving workers of a multi-process server (``--workers N``).

One Python process serves on about one core (the global interpreter lock), so a server that should use
the machine runs several. The primary holds the data directory's lock, verifies the audit log, starts
the audit writer and binds the port; then it starts ``N - 1`` workers (see :mod:`.processes`), each
serving the same port with ``SO_REUSEPORT`` on the same store and sending its audited writes to the
audit writer (see :func:`~dosefinding_server.api.server.build_worker`).
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Callable

from .api.server import build_worker
from .config import Config
from .processes import Children, start_children


def start_workers(config: Config, appends: list[list[Connection]], timeout: float = 60.0) -> Children:
    """A worker per list of ``appends`` pipes (to the audit writer), serving ``config.listen`` (an address
    with its port already bound by the primary); returns once every worker serves. The pipes are closed here,
    the workers hold them now."""
    try:
        return start_children([(f"dosefinding-worker-{index + 1}", _serve, (config, pipes))
                               for index, pipes in enumerate(appends)], config.log_level, timeout)
    finally:
        for pipes in appends:
            for pipe in pipes:
                pipe.close()


def _serve(config: Config, appends: list[Connection]) -> Callable[[], None]:
    running = build_worker(config, appends)
    return lambda: running.stop(5.0)
