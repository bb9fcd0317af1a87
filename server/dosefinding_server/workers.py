"""The further processes of a multi-process server (``--workers N``): started by the primary, stopped with
it, never outliving it.

One Python process serves on about one core (the global interpreter lock), so a server that should use
the machine runs several. The primary holds the data directory's lock, verifies the audit log and binds
the port; then it starts ``N - 1`` workers in fresh interpreters (the ``spawn`` start method: gRPC must
not be forked), each serving the same port with ``SO_REUSEPORT`` on the same store (see
:func:`~dosefinding_server.api.server.build_worker`). A worker that cannot start stops the whole server;
one that dies later stops it too (an orchestrator then restarts it whole); a primary that dies takes its
workers with it (Linux's parent-death signal), so no worker ever serves unsupervised.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from .api.server import build_worker
from .config import Config
from .logging import configure_logging

READY = "ready"
PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.2


class WorkerFailed(RuntimeError):
    """A worker process could not start, or stopped while the server was serving."""


@dataclass
class Workers:
    """The running worker processes of this (primary) process."""

    processes: list[BaseProcess]

    def wait_for_exit(self, stopping: threading.Event) -> None:
        """Block until a worker exits; then set ``stopping`` unless the server is stopping already."""
        multiprocessing.connection.wait([process.sentinel for process in self.processes])
        stopping.set()

    def failed(self) -> BaseProcess | None:
        """A worker that has exited (the server did not ask it to), if any."""
        return next((process for process in self.processes if process.exitcode is not None), None)

    def stop(self, grace: float) -> None:
        """Ask every worker to drain and stop (SIGTERM), give them ``grace`` seconds and a margin, then kill."""
        for process in self.processes:
            if process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(grace + 10.0)
            if process.exitcode is None:
                process.kill()
                process.join()


def start_workers(config: Config, count: int, timeout: float = 60.0) -> Workers:
    """``count`` workers serving ``config.listen`` (an address with its port already bound by the primary).

    Returns once every worker serves; raises :class:`WorkerFailed` (having stopped the others) if one
    cannot start within ``timeout`` seconds.
    """
    context = multiprocessing.get_context("spawn")
    workers = Workers([])
    try:
        replies = []
        for index in range(count):
            mine, theirs = context.Pipe(duplex=False)
            process = context.Process(target=_serve, args=(config, theirs, os.getpid()),
                                      name=f"dosefinding-worker-{index + 1}")
            process.start()
            theirs.close()
            workers.processes.append(process)
            replies.append(mine)
        for process, reply in zip(workers.processes, replies):
            message = reply.recv() if reply.poll(timeout) else f"no answer within {timeout:g} s"
            if message != READY:
                raise WorkerFailed(f"{process.name} did not start: {message}")
    except (WorkerFailed, EOFError, OSError) as error:
        workers.stop(0.0)
        if isinstance(error, WorkerFailed):
            raise
        raise WorkerFailed(f"a worker did not start: {type(error).__name__}: {error}") from None
    return workers


def _serve(config: Config, reply: Connection, primary_pid: int) -> None:
    """A worker's life: serve until SIGTERM (or SIGINT), then drain and stop like the primary."""
    _die_with(primary_pid)
    configure_logging(config.log_level)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        running = build_worker(config)
    except Exception as error:  # the primary reports it and stops
        reply.send(f"{type(error).__name__}: {error}")
        sys.exit(1)
    reply.send(READY)
    reply.close()
    stopping.wait()
    running.stop(5.0)


def _die_with(primary_pid: int) -> None:
    """End this process when the primary ends, however it ends (a worker must not serve on unsupervised)."""
    prctl = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "prctl", None) if sys.platform == "linux" else None
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_primary, args=(primary_pid,), daemon=True, name="watch-primary").start()
    if os.getppid() != primary_pid:
        os._exit(1)


def _watch_primary(primary_pid: int) -> None:
    while os.getppid() == primary_pid:
        threading.Event().wait(PARENT_POLL_SECONDS)
    os._exit(1)
