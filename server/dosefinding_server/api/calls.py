"""The context of one call, shared by the interceptor and the servicer handling it.

A servicer that changes state does not commit by itself: it registers its
writes (rows to insert), what to do once they are durable, and the per-trial
lock it holds here; the interceptor then commits the rows together with the
call's audit record, in one transaction, before the reply, and releases the
lock only after that commit.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import Callable

from dosefinding_server.audit.group_commit import Insert
from dosefinding_server.security.principals import Principal


@dataclass
class Call:
    """What the interceptor knows of a call, and what the servicer adds for its audit record."""

    request_id: str
    method: str
    principal: Principal
    writes: list[Insert] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)
    held: list[threading.Lock] = field(default_factory=list)
    trial_id: str | None = None
    design_sha256: str | None = None
    seed: int | None = None
    reason: str | None = None
    corrects_seq: int | None = None

    def write(self, row: Insert) -> None:
        """Make ``row`` part of this call's audited commit."""
        self.writes.append(row)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this call's writes are durable (not at all if they are not)."""
        self.committed.append(action)

    def hold(self, lock: threading.Lock) -> None:
        """Acquire ``lock`` until this call's commit is durable (or abandoned)."""
        lock.acquire()
        self.held.append(lock)

    def release(self) -> None:
        while self.held:
            self.held.pop().release()


_current: contextvars.ContextVar[Call] = contextvars.ContextVar("dosefinding_call")


def current_call() -> Call:
    """The call being handled on this thread."""
    return _current.get()


def enter(call: Call) -> contextvars.Token[Call]:
    return _current.set(call)


def leave(token: contextvars.Token[Call]) -> None:
    _current.reset(token)
