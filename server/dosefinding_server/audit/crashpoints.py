"""TEST HOOK: kill the process at a named point of the audit write path, for crash-recovery tests.

Inert unless the environment variable ``DOSEFINDING_CRASH_AT`` names a point
when this module is first imported (i.e. when the server process starts)::

    DOSEFINDING_CRASH_AT=before_commit      # the 1st time the point is reached
    DOSEFINDING_CRASH_AT=after_commit:3     # the 3rd time

Points: ``before_commit`` (a group-commit batch is written but not yet
committed), ``after_commit`` (committed and durable, no caller answered yet),
``signing_checkpoint`` (a checkpoint is signed, not yet stored or committed).
At the chosen hit the process sends itself SIGKILL: no ``finally``, no
``atexit``, no flush, as with a power cut or the OOM killer.

The setting is read once, from the process environment, and nothing else can
arm it: no request, flag or configuration file reaches it. An unknown point is
refused at start-up so a typo cannot make a crash test pass vacuously.
"""

from __future__ import annotations

import os
import signal
import threading

ENVIRONMENT_VARIABLE = "DOSEFINDING_CRASH_AT"
POINTS = frozenset({"before_commit", "after_commit", "signing_checkpoint"})


def _armed(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    point, _, count = value.partition(":")
    if point not in POINTS or not (count or "1").isdigit() or int(count or "1") < 1:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={value!r}: expected one of {', '.join(sorted(POINTS))}, "
                         "optionally followed by :N (N >= 1)")
    return point, int(count or "1")


_ARMED = _armed(os.environ.get(ENVIRONMENT_VARIABLE))
_hits = 0
_lock = threading.Lock()


def reached(point: str) -> None:
    """Called at ``point``; kills the process if the environment armed this point and its count is reached."""
    global _hits
    if _ARMED is None or _ARMED[0] != point:
        return
    with _lock:
        _hits += 1
        if _hits >= _ARMED[1]:
            os.kill(os.getpid(), signal.SIGKILL)
