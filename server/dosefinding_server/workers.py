"""The serving workers of a multi-process server (``--workers N``).

One Python process serves on about one core (the global interpreter lock), so a server that should use
the machine runs several. The primary holds the data directory's lock, starts the audit writer (which
verifies the log) and binds the port; then it starts ``N - 1`` workers (see :mod:`.processes`), each
serving the same port with ``SO_REUSEPORT`` on the same store and sending its audited writes to the
audit writer (see :func:`~dosefinding_server.api.server.build_worker`). A worker is given the log's public
key; it never reads the private signing key, which only the audit writer holds.
"""

from __future__ import annotations

from multiprocessing.connection import Connection

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .affinity import pin_this_process
from .api.server import build_worker
from .audit.signing import public_key_from_raw, raw_public_key
from .config import Config
from .processes import Children, Started, start_children

log = structlog.get_logger("dosefinding.server")


def start_workers(config: Config, appends: list[list[Connection]], public_key: Ed25519PublicKey,
                  cpus: list[int] | None = None, timeout: float = 60.0) -> Children:
    """A worker per list of ``appends`` pipes (to the audit writer), serving ``config.listen`` (an address
    with its port already bound by the primary) and showing ``public_key`` as the log's signing key, each
    bound to its CPU in ``cpus`` if given; returns once every worker serves. The pipes are closed here, the
    workers hold them now."""
    raw_key = raw_public_key(public_key)
    try:
        return start_children([(f"dosefinding-worker-{index + 1}", _serve,
                                (config, pipes, raw_key, cpus[index] if cpus else None))
                               for index, pipes in enumerate(appends)], config.log_level, timeout)
    finally:
        for pipes in appends:
            for pipe in pipes:
                pipe.close()


def _serve(config: Config, appends: list[Connection], raw_key: bytes, cpu: int | None) -> Started:
    if cpu is not None:
        pin_this_process(cpu)
    running = build_worker(config, appends, public_key_from_raw(raw_key))
    log.info("worker_started", address=config.listen, cpu=cpu)
    return Started(lambda: running.stop(5.0))
