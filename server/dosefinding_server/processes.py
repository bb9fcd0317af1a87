"""The further processes of a multi-process server (``--workers N``): started by the primary, stopped with
it, never outliving it.

The primary starts them in fresh interpreters (the ``spawn`` start method: gRPC must not be forked): the
audit writer (see :mod:`~dosefinding_server.audit.writer`) and ``N - 1`` serving workers (see
:mod:`.workers`). A process that cannot start stops the whole server; one that dies later stops it
too (an orchestrator then restarts it whole); a primary that dies takes them with it (Linux's
parent-death signal), so none ever runs unsupervised.
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
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Callable

from .logging import configure_logging

READY = "ready"
PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Started:
    """What a process's body returns once its work runs: how to stop it (once SIGTERM or SIGINT arrives), and
    what the primary is to learn from it (picklable; e.g. the audit writer's public key)."""

    stop: Callable[[], None]
    announcement: Any = None


Body = Callable[..., Started]
"""What a process runs: it starts its work (see :class:`Started`)."""


class ProcessFailed(RuntimeError):
    """A process of the server could not start, or stopped while the server was running."""


@dataclass
class Children:
    """The running further processes of this (primary) process."""

    processes: list[BaseProcess]
    #: what each process announced when it started (its :attr:`Started.announcement`), in order
    announcements: list[Any] = field(default_factory=list)

    def wait_for_exit(self, stopping: threading.Event) -> None:
        """Block until one of them exits; then set ``stopping`` unless the server is stopping already."""
        ended = multiprocessing.connection.wait([process.sentinel for process in self.processes])
        for process in self.processes:
            if process.sentinel in ended:  # the sentinel closes a moment before the process can be reaped
                process.join(PARENT_POLL_SECONDS * 25)
        stopping.set()

    def failed(self) -> BaseProcess | None:
        """A process that has exited (the server did not ask it to), if any."""
        return next((process for process in self.processes if process.exitcode is not None), None)

    def stop(self, grace: float) -> None:
        """Ask each to finish and stop (SIGTERM), give them ``grace`` seconds and a margin, then kill."""
        for process in self.processes:
            if process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(grace + 10.0)
            if process.exitcode is None:
                process.kill()
                process.join()


def start_children(bodies: list[tuple[str, Body, tuple[Any, ...]]], log_level: str,
                   timeout: float = 60.0) -> Children:
    """Start a process per ``(name, body, arguments)``; returns once each has started its work.

    Raises :class:`ProcessFailed` (having stopped the others) if one cannot start within ``timeout`` seconds.
    """
    context = multiprocessing.get_context("spawn")
    children = Children([])
    try:
        replies = []
        for name, body, arguments in bodies:
            mine, theirs = context.Pipe(duplex=False)
            process = context.Process(target=_run, args=(body, arguments, log_level, theirs, os.getpid()), name=name)
            process.start()
            theirs.close()
            children.processes.append(process)
            replies.append(mine)
        for process, reply in zip(children.processes, replies):
            message = reply.recv() if reply.poll(timeout) else f"no answer within {timeout:g} s"
            if not (isinstance(message, tuple) and message[0] == READY):
                raise ProcessFailed(f"{process.name} did not start: {message}")
            children.announcements.append(message[1])
    except (ProcessFailed, EOFError, OSError) as error:
        children.stop(0.0)
        if isinstance(error, ProcessFailed):
            raise
        raise ProcessFailed(f"a process did not start: {type(error).__name__}: {error}") from None
    return children


def _run(body: Body, arguments: tuple[Any, ...], log_level: str, reply: Connection, primary_pid: int) -> None:
    """A further process's life: start ``body``, run until SIGTERM (or SIGINT), then stop it."""
    _die_with(primary_pid)
    configure_logging(log_level)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        started = body(*arguments)
    except Exception as error:  # the primary reports it and stops
        reply.send(f"{type(error).__name__}: {error}")
        sys.exit(1)
    reply.send((READY, started.announcement))
    reply.close()
    stopping.wait()
    started.stop()


def _die_with(primary_pid: int) -> None:
    """End this process when the primary ends, however it ends (it must not run on unsupervised)."""
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
