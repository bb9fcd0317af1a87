"""Group commit: many concurrent appends, one transaction and one fsync.

A durable commit costs an fsync (milliseconds), so committing each audited
call on its own caps the service at a few hundred calls per second. Instead
callers queue their entries and wait; a single writer thread takes everything
queued, writes it in one transaction, commits once, and only then resolves
each caller's future. While one batch is being fsynced the next one gathers,
so batches grow with load and latency stays about two commit times.

Each caller's extra writes (e.g. the trial event the decision changed) run in
the same transaction just before its audit record, inside a savepoint: if
they, or the record, are refused, only that caller's writes are undone and
only that caller gets the error; the rest of the batch commits.

After each batch, and whenever it has been idle for ``tick_seconds``, the
thread calls ``tick`` (the audit log uses it to sign a checkpoint of records
left unsigned for too long, so a quiet log does not leave them so).
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

from ..storage import IntegrityError, Storage, StorageError, Transaction
from . import crashpoints
from .errors import AuditLogClosed
from .records import AuditEntry, AuditRecord

Writes = Callable[[Transaction], Any]
"""Extra writes to make in the audit record's transaction; their result is handed back."""


@dataclass(frozen=True)
class Receipt:
    """Proof of a durable append: where the record is, and the result of the caller's extra writes."""

    seq: int
    leaf_hash: bytes
    recorded_at: str
    writes_result: Any = None


@dataclass(frozen=True)
class _Pending:
    entry: AuditEntry
    writes: Writes | None
    future: Future[Receipt]


class GroupCommitter:
    """The writer thread. ``begin`` starts each batch's transaction (the audit log catches up with other
    writers there); ``append`` writes one record in it (the audit log's own)."""

    def __init__(self, storage: Storage, begin: Callable[[Transaction], None],
                 append: Callable[[Transaction, AuditEntry], AuditRecord],
                 max_batch: int, tick: Callable[[], None], tick_seconds: float) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._storage = storage
        self._begin = begin
        self._append = append
        self._max_batch = max_batch
        self._tick = tick
        self._tick_seconds = tick_seconds
        self._queue: deque[_Pending] = deque()
        self._wakeup = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="audit-group-commit", daemon=True)
        self._thread.start()

    def submit(self, entry: AuditEntry, writes: Writes | None = None) -> Future[Receipt]:
        """Queue ``entry`` (after ``writes``); the future resolves once its batch is durable."""
        future: Future[Receipt] = Future()
        with self._wakeup:
            if self._closing:
                raise AuditLogClosed("the audit log is closed")
            self._queue.append(_Pending(entry, writes, future))
            self._wakeup.notify()
        return future

    def close(self) -> None:
        """Refuse new entries, commit the ones queued, and stop the thread."""
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                if not self._queue and not self._closing:
                    self._wakeup.wait(self._tick_seconds)
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
                closing = self._closing
            if batch:
                self._commit([pending for pending in batch if pending.future.set_running_or_notify_cancel()])
            elif closing:
                return
            self._tick()

    def _commit(self, batch: list[_Pending]) -> None:
        outcomes: list[Receipt | Exception] = []
        try:
            with self._storage.transaction() as tx:
                self._begin(tx)
                for pending in batch:
                    outcomes.append(self._apply(tx, pending))
                crashpoints.reached("before_commit")  # test hook, inert unless armed (see crashpoints)
        except Exception as err:  # nothing in the batch is durable: every caller learns why
            for index, pending in enumerate(batch):
                own = outcomes[index] if index < len(outcomes) else None
                pending.future.set_exception(own if isinstance(own, Exception) else err)
            return
        crashpoints.reached("after_commit")  # test hook, inert unless armed (see crashpoints)
        for pending, outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def _apply(self, tx: Transaction, pending: _Pending) -> Receipt | Exception:
        """One caller's writes and record; a refusal of them is that caller's outcome, a store failure is everyone's."""
        try:
            with tx.savepoint():
                result = pending.writes(tx) if pending.writes is not None else None
                record = self._append(tx, pending.entry)
        except IntegrityError as err:
            return err
        except StorageError:
            raise
        except Exception as err:
            return err
        return Receipt(record.seq, record.leaf_hash, record.recorded_at, result)
