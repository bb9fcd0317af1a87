"""One writer for the audit log of a multi-process server (``--workers N``), in a process of its own.

Why a process of its own. When every serving process commits its own queue (:mod:`.group_commit`),
the processes take turns at the store's single writer lock, so each commit carries only what one
process has queued; and each of a leader's SQLite statements releases the interpreter lock and
must win it back from that process's busy request threads, which stretches the time the store is
held. The writer process has no request threads: its threads only wait on pipes and queue appends
into one group commit, so a batch carries the appends of every process and the store is held only
as long as the writes themselves take.

Protocol. Before it starts any process the primary makes one pipe per request thread of every
serving process; the writer gets one end of each, the serving process the others as a pool
(:class:`RemoteAuditLog`). A request thread takes a pipe from the pool, sends ``(entry, writes)``
(:class:`~.group_commit.Insert` rows are data, so they travel) and receives the
:class:`~.group_commit.Receipt`, or the exception that refused them. The pipes are inherited, never
bound to an address, so only the server's own processes hold them. A serving process that ends
closes its pipes and the writer's thread for each ends too; a writer that ends breaks every pipe,
and each waiting call fails with :class:`~dosefinding_server.storage.StorageError` instead of hanging.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
from multiprocessing.connection import Connection
from typing import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..storage import Storage, StorageError
from .errors import AuditLogClosed
from .group_commit import Receipt, Writes
from .log import AuditLog
from .records import AuditEntry
from .trail import AuditTrail


def pipes(processes: int, per_process: int) -> tuple[list[Connection], list[list[Connection]]]:
    """The writer's ends of ``processes * per_process`` pipes, and each serving process's ends."""
    writer_ends: list[Connection] = []
    serving_ends: list[list[Connection]] = []
    for _ in range(processes):
        pairs = [multiprocessing.Pipe() for _ in range(per_process)]
        writer_ends += [writer_end for writer_end, _ in pairs]
        serving_ends.append([serving_end for _, serving_end in pairs])
    return writer_ends, serving_ends


def relay(log: AuditLog, connections: list[Connection]) -> None:
    """Serve the appends sent over ``connections`` into ``log``, a thread per pipe (each ends with its pipe)."""
    for index, connection in enumerate(connections):
        threading.Thread(target=_relay, args=(log, connection), daemon=True, name=f"audit-pipe-{index}").start()


def _relay(log: AuditLog, connection: Connection) -> None:
    with connection:
        while True:
            try:
                entry, writes = connection.recv()
            except (EOFError, OSError):  # the serving process closed its end, or ended
                return
            outcome: Receipt | Exception
            try:
                outcome = log.append_durable(entry, writes)
            except Exception as error:  # the caller's refusal, handed back to it
                outcome = error
            try:
                connection.send(outcome)
            except (pickle.PicklingError, TypeError, AttributeError):
                connection.send(StorageError(f"{type(outcome).__name__}: {outcome}"))
            except OSError:
                return


class RemoteAuditLog(AuditTrail):
    """The audit trail of a serving process whose appends the writer process makes (see the module).

    ``stop_writer``, given to the process that started the writer, stops it on :meth:`close` (after
    this process's calls have drained, so its final checkpoint covers them).
    """

    def __init__(self, storage: Storage, public_key: Ed25519PublicKey, connections: list[Connection],
                 stop_writer: Callable[[], None] | None = None) -> None:
        super().__init__(storage)
        self._public_key = public_key
        self._connections = list(connections)
        self._pool: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        for connection in connections:
            self._pool.put(connection)
        self._stop_writer = stop_writer
        self._closed = False

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    def append_durable(self, entry: AuditEntry, writes: Writes = ()) -> Receipt:
        if self._closed:
            raise AuditLogClosed("the audit log is closed")
        connection = self._pool.get()
        try:
            connection.send((entry, tuple(writes)))
            outcome = connection.recv()
        except (EOFError, OSError) as error:  # the pipe stays out of the pool: it is broken
            raise StorageError(f"the audit writer process is gone ({type(error).__name__})") from None
        self._pool.put(connection)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for connection in self._connections:
            connection.close()
        if self._stop_writer is not None:
            self._stop_writer()
