"""Group commit: many concurrent appends, one transaction and one fsync.

A durable commit costs an fsync (milliseconds), so committing each audited
call on its own caps the service at a few hundred calls per second. Instead
callers queue their entries and commit them together, in the calling threads
themselves (the leader/follower scheme of LevelDB's write path): the caller at
the head of the queue is the leader; once it holds the store it takes every
entry queued by then, writes them in one transaction, commits once, and only
then wakes each caller of the batch with its receipt and the new head, who
leads the next batch. While one
batch is being fsynced the next one gathers, so batches grow with load and
latency stays about two commit times; a caller that finds the queue empty
commits at once, with no hand-off to another thread and back.

Each caller's extra writes (e.g. the trial event the decision changed) are
rows to insert (:class:`Insert`: data, not code, so that a writer in another
process can make them, see :mod:`.writer`). They are inserted in the same
transaction just before the caller's audit record, inside a savepoint: if
they, or the record, are refused, only that caller's writes are undone and
only that caller gets the error; the rest of the batch commits.

After each batch, and whenever it has been idle for ``tick_seconds`` (a
background thread then queues up to lead an empty batch), the leader calls
``tick`` (the audit log uses it to sign a checkpoint of records left unsigned
for too long, so a quiet log does not leave them so). Everything that changes
the log's position therefore runs on one thread at a time: a leader's.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Sequence

from ..storage import IntegrityError, Storage, StorageError, Transaction
from . import crashpoints
from .errors import AuditLogClosed
from .records import AuditEntry, AuditRecord

class Placeholder(Enum):
    """A parameter of an :class:`Insert` whose value is known only once the batch is being written."""

    AUDIT_SEQUENCE = "audit_sequence"
    """The sequence number of the caller's audit record (e.g. to link a trial event to it)."""


AUDIT_SEQUENCE = Placeholder.AUDIT_SEQUENCE


@dataclass(frozen=True)
class Insert:
    """One row a caller inserts with its audit record: a statement and its parameters."""

    sql: str
    parameters: tuple[Any, ...]

    def bind(self, audit_sequence: int) -> tuple[Any, ...]:
        """The parameters, with :data:`AUDIT_SEQUENCE` replaced by ``audit_sequence``."""
        return tuple(audit_sequence if value is AUDIT_SEQUENCE else value for value in self.parameters)


Writes = Sequence[Insert]
"""The rows a caller inserts in its audit record's transaction, in order."""


@dataclass(frozen=True)
class Receipt:
    """Proof of a durable append: where the record is."""

    seq: int
    leaf_hash: bytes
    recorded_at: str


@dataclass(eq=False)
class _Waiter:
    """A caller in the queue: its entry (``None`` to lead an empty batch, for a tick), then its outcome."""

    entry: AuditEntry | None
    writes: Writes
    wakeup: threading.Condition
    done: bool = False
    outcome: Receipt | Exception | None = None


class GroupCommitter:
    """The queue of appends. ``begin`` starts each batch's transaction (the audit log catches up with other
    writers there); ``append`` writes one record in it (the audit log's own), and ``sequence`` tells the number
    the record appended next will get."""

    def __init__(self, storage: Storage, begin: Callable[[Transaction], None],
                 append: Callable[[Transaction, AuditEntry], AuditRecord], sequence: Callable[[], int],
                 max_batch: int, tick: Callable[[], None], tick_seconds: float) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._storage = storage
        self._begin = begin
        self._append = append
        self._sequence = sequence
        self._max_batch = max_batch
        self._tick = tick
        self._tick_seconds = tick_seconds
        self._mutex = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._closing = False
        self._stop_ticking = threading.Event()
        self._ticker = threading.Thread(target=self._tick_when_idle, name="audit-tick", daemon=True)
        self._ticker.start()

    def commit(self, entry: AuditEntry, writes: Writes = ()) -> Receipt:
        """Append ``entry`` (after ``writes``) with the next batch; returns once that batch is durable."""
        outcome = self._take_turn(entry, writes)
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None
        return outcome

    def close(self) -> None:
        """Refuse new entries, commit the ones queued, and stop ticking."""
        with self._mutex:
            if self._closing:
                return
            self._closing = True
        self._stop_ticking.set()
        self._ticker.join()
        self._take_turn(None, (), closing=True)

    def _tick_when_idle(self) -> None:
        while not self._stop_ticking.wait(self._tick_seconds):
            try:
                self._take_turn(None, ())
            except AuditLogClosed:
                return

    def _take_turn(self, entry: AuditEntry | None, writes: Writes, closing: bool = False
                   ) -> Receipt | Exception | None:
        """Queue, then wait until a leader has committed this entry or this caller leads a batch itself."""
        with self._mutex:
            if self._closing and not closing:
                raise AuditLogClosed("the audit log is closed")
            waiter = _Waiter(entry, writes, threading.Condition(self._mutex))
            self._queue.append(waiter)
            while not waiter.done and self._queue[0] is not waiter:
                waiter.wakeup.wait()
            if waiter.done:
                return waiter.outcome
        batch: list[_Waiter] = []
        try:
            batch = self._lead()
            self._tick()
        finally:
            with self._mutex:
                for _ in batch or [waiter]:  # just the leader if it failed before taking a batch
                    finished = self._queue.popleft()
                    finished.done = True
                    if finished.outcome is None and finished.entry is not None:  # the leader was interrupted
                        finished.outcome = StorageError("the batch was abandoned before its commit")
                    if finished is not waiter:
                        finished.wakeup.notify()
                if self._queue:
                    self._queue[0].wakeup.notify()
        return waiter.outcome

    def _head(self) -> list[_Waiter]:
        """The batch at the head of the queue (the leader first): what is queued now, up to ``max_batch``."""
        with self._mutex:
            return [self._queue[index] for index in range(min(len(self._queue), self._max_batch))]

    def _lead(self) -> list[_Waiter]:
        """Commit the head batch in one transaction, giving each waiter its outcome; returns the batch.

        The batch is taken once the transaction is open: callers that queue while the leader waits for
        the store (another process's writer holds it) still join this commit.
        """
        batch = self._head()
        if all(waiter.entry is None for waiter in batch):
            return batch
        try:
            with self._storage.transaction() as tx:
                batch = self._head()
                self._begin(tx)
                for waiter in batch:
                    if waiter.entry is not None:
                        waiter.outcome = self._apply(tx, waiter)
                crashpoints.reached("before_commit")  # test hook, inert unless armed (see crashpoints)
        except Exception as err:  # nothing in the batch is durable: every caller learns why
            for waiter in batch:
                if waiter.entry is not None and not isinstance(waiter.outcome, Exception):
                    waiter.outcome = err
            return batch
        crashpoints.reached("after_commit")  # test hook, inert unless armed (see crashpoints)
        return batch

    def _apply(self, tx: Transaction, waiter: _Waiter) -> Receipt | Exception:
        """One caller's writes and record; a refusal of them is that caller's outcome, a store failure is everyone's."""
        assert waiter.entry is not None
        try:
            with tx.savepoint():
                sequence = self._sequence()
                for insert in waiter.writes:
                    tx.execute(insert.sql, insert.bind(sequence))
                record = self._append(tx, waiter.entry)
        except IntegrityError as err:
            return err
        except StorageError:
            raise
        except Exception as err:
            return err
        return Receipt(record.seq, record.leaf_hash, record.recorded_at)
