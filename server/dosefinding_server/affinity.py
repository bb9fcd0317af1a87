"""Each serving process bound to a CPU of its own (``pin_cpus``), for a host given over to the service.

Why. One Python process runs Python on one thread at a time (the global interpreter lock), yet a
serving process has a dozen threads that pass every call and the lock between them: gRPC's poller,
the request threads, the audit commit. Left free, the kernel spreads them over all cores, so each
hand-off wakes a thread on another core (an inter-processor interrupt, dear on a virtual machine)
only for it to wait for the lock the first still holds. Bound to one core, a process's threads take
turns there as the lock makes them anyway, and the other processes keep the other cores. Measured on
the 2-core benchmark host (closed loop of ``bench trials``, ``--workers 2``, alternating rounds):
a seventh less server CPU per durable decision, and a seventh more of them per second.

The audit writer of a multi-process server is left free: it must run whenever a commit is due,
whichever serving process is busy (bound beside one of them it was slower).

Linux only (``sched_setaffinity``). A thread starts with the CPUs of the thread that creates it, so
once every thread a process has is bound, so is every thread it starts later. A worker binds itself
before it starts any work; the primary binds itself once its audit writer and workers have started
(they would inherit its CPU otherwise), from the plan it made before any process was bound.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import ConfigError


def cpu_plan(processes: int) -> list[int]:
    """The CPU of each of ``processes`` serving processes, the primary's first: the CPUs this process
    may run on, one each. Raises :class:`ConfigError` if there are fewer, or binding is not possible."""
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError("pin_cpus: this platform cannot bind a process to a CPU (Linux only)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < processes:
        raise ConfigError(f"pin_cpus: {processes} serving processes, but only {len(cpus)} CPUs to bind them to")
    return cpus[:processes]


def pin_this_process(cpu: int) -> None:
    """Bind every thread of this process, and so every thread it starts later, to ``cpu``.

    Threads started meanwhile by a thread not yet bound are found by the next pass: it returns once a
    pass finds every thread bound.
    """
    while True:
        unbound = [thread for thread in _threads() if _cpus_of(thread) not in (None, {cpu})]
        if not unbound:
            return
        for thread in unbound:
            try:
                os.sched_setaffinity(thread, {cpu})
            except ProcessLookupError:  # it ended meanwhile
                continue


def _threads() -> list[int]:
    return [int(entry.name) for entry in Path("/proc/self/task").iterdir()]


def _cpus_of(thread: int) -> set[int] | None:
    """The CPUs ``thread`` may run on; None if it has ended."""
    try:
        return os.sched_getaffinity(thread)
    except ProcessLookupError:
        return None
