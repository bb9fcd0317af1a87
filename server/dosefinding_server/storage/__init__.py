"""The storage interface the service's components write through.

Callers (the audit log, the trial store, the gRPC layer) see only the
protocols below, never a driver: a transaction to write in, a read snapshot,
versioned schema migrations, an online backup. :mod:`.sqlite` is the embedded
implementation; a PostgreSQL backend would implement the same protocols
(translating the ``?`` placeholders and its driver's errors into the ones
below) and each component would register DDL for its ``dialect``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence


class StorageError(Exception):
    """A storage operation failed (I/O, locking, a closed store, a broken schema)."""


class IntegrityError(StorageError):
    """A constraint refused a write: a duplicate key, a foreign key, or an append-only trigger."""


class SchemaError(StorageError):
    """The stored schema cannot be used by this code (e.g. it is newer than the code)."""


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: ``version`` counts from 1; ``script`` is DDL, one or
    more statements each ending in ``;``, run in order inside the migration's transaction."""

    version: int
    script: str
    description: str = ""


class Cursor(Protocol):
    """The rows of one statement."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Reader(Protocol):
    """A read-only view of one consistent snapshot of the store."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor: ...


class Transaction(Reader, Protocol):
    """An open write transaction; committed when its context exits normally, else rolled back."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Cursor: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested scope: an exception inside undoes only its writes (and its rollback hooks)."""
        ...

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the writes made so far in this scope are undone.

        Lets a component keep in-memory state (e.g. the audit log's next
        sequence number) in step with what is durable.
        """
        ...


class Storage(Protocol):
    """One database shared by every component of the server."""

    dialect: str

    def transaction(self) -> AbstractContextManager[Transaction]:
        """An exclusive write transaction (one at a time across threads)."""
        ...

    def in_transaction(self) -> bool:
        """Whether the calling thread has a write transaction open (so must not wait for another)."""
        ...

    def reader(self) -> AbstractContextManager[Reader]:
        """A consistent read snapshot that does not block writers."""
        ...

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Every row of one read-only statement, read from a snapshot of its own (the cheap way to read
        what one statement can say: no transaction to open and close around it)."""
        ...

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Apply ``component``'s migrations not yet applied, in one transaction; the version reached."""
        ...

    def schema_version(self, component: str) -> int:
        """The migration version ``component`` has reached; 0 if it has none."""
        ...

    def backup(self, path_to: str | Path) -> None:
        """Write a consistent copy of the whole store to ``path_to`` while it stays in use."""
        ...

    def close(self) -> None: ...
