"""The embedded SQLite store: one file, WAL, ``synchronous=FULL``.

Threading: SQLite admits one writer at a time per database, so the store
keeps exactly one writer connection and hands it out behind a lock, one
:meth:`Database.transaction` at a time. Across processes (the workers of one
server) writers queue on an exclusive ``flock`` of ``<database>.writer-lock``
taken before ``BEGIN IMMEDIATE``, released at once to the next in line.
Serialising writers this way means they never meet ``SQLITE_BUSY`` and never
sit in SQLite's sleep-and-retry busy handler, whose back-off (1, 2, 5, 10 ms
...) would show up as latency spikes; the busy timeout is there only for
other programs (a backup tool, an operator's shell). Readers
take a connection from a pool; in WAL mode each reads its own committed
snapshot while the writer carries on.

Durability: ``synchronous=FULL`` with WAL fsyncs the log at every commit, so a
transaction that has returned from :meth:`Database.transaction` survives a
power cut (21 CFR Part 11 §11.10(e) asks for records that are not lost).
``recursive_triggers`` is on so that ``INSERT OR REPLACE`` cannot delete a row
behind an append-only table's ``DELETE`` trigger.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import IntegrityError, Migration, Reader, SchemaError, StorageError, Transaction

BUSY_TIMEOUT_MS = 5000

_SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    component   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    description TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL,
    PRIMARY KEY (component, version)
) STRICT;
CREATE TRIGGER IF NOT EXISTS schema_version_no_update BEFORE UPDATE ON schema_version
BEGIN SELECT RAISE(ABORT, 'schema_version is append-only'); END;
CREATE TRIGGER IF NOT EXISTS schema_version_no_delete BEFORE DELETE ON schema_version
BEGIN SELECT RAISE(ABORT, 'schema_version is append-only'); END;
"""

_VERSION_QUERY = "SELECT COALESCE(MAX(version), 0) FROM schema_version WHERE component = ?"


class _DriverErrors:
    """Re-raise sqlite3's exceptions as the storage interface's, so callers need not know the driver.

    A class rather than a ``@contextmanager`` generator: it wraps every statement, and a generator-based
    context manager costs several times more per use.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if isinstance(error, sqlite3.IntegrityError):
            raise IntegrityError(str(error)) from error
        if isinstance(error, sqlite3.Error):
            raise StorageError(str(error)) from error


class _SqliteReader:
    """:class:`~dosefinding_server.storage.Reader` over one connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        with _DriverErrors():
            return self._connection.execute(sql, parameters)


class _SqliteTransaction(_SqliteReader):
    """:class:`~dosefinding_server.storage.Transaction` on the writer connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self._rollback_hooks: list[Callable[[], None]] = []
        self._depth = 0

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        with _DriverErrors():
            return self._connection.executemany(sql, rows)

    def on_rollback(self, callback: Callable[[], None]) -> None:
        self._rollback_hooks.append(callback)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        name = f"sp{self._depth}"
        mark = len(self._rollback_hooks)
        self.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException as err:
            if not self._connection.in_transaction:  # SQLite itself rolled back everything (I/O error, disk full)
                raise StorageError(f"the database rolled back the whole transaction: {err}") from err
            self.execute(f"ROLLBACK TO {name}")
            self.execute(f"RELEASE {name}")
            self._undo(mark)
            raise
        else:
            self.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def _undo(self, mark: int) -> None:
        """Run, newest first, the rollback hooks registered after the first ``mark``."""
        while len(self._rollback_hooks) > mark:
            self._rollback_hooks.pop()()


class Database:
    """A SQLite file implementing :class:`~dosefinding_server.storage.Storage`.

    ``read_only`` opens the file with ``mode=ro`` and no writer: for verifying
    a copy of the store without any chance of changing the evidence.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, read_only: bool = False,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._busy_timeout_ms = busy_timeout_ms
        self._write_lock = threading.Lock()
        self._writer_thread: int | None = None
        self._pool_lock = threading.Lock()
        self._idle_readers: list[sqlite3.Connection] = []
        self._closed = False
        self._writer: sqlite3.Connection | None = None
        self._writer_lock_file: int | None = None
        if read_only:
            if not self.path.is_file():
                raise StorageError(f"no database file at {self.path}")
            self._release_reader(self._connect())
            return
        self._writer_lock_file = os.open(self.path.with_name(self.path.name + ".writer-lock"),
                                         os.O_RDWR | os.O_CREAT, 0o600)
        self._writer = self._connect()
        with _DriverErrors():
            mode = self._writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            self._writer.close()
            raise StorageError(f"{self.path}: cannot switch to WAL journal mode (got {mode!r})")
        with self.transaction() as tx:
            for statement in _statements(_SCHEMA_VERSION_DDL):
                tx.execute(statement)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        """A connection with the store's pragmas; ``check_same_thread`` off because the
        store itself guarantees one thread at a time per connection."""
        try:
            if self.read_only:
                connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                             isolation_level=None, check_same_thread=False)
            else:
                connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise StorageError(f"{self.path}: {err}") from err
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA recursive_triggers = ON")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as err:
            connection.close()
            raise StorageError(f"{self.path}: {err}") from err
        return connection

    def _require_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.path}: the database is closed")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE`` on the writer connection; ``COMMIT`` on success, else ``ROLLBACK``.

        Nesting from the same thread is refused (it would deadlock); use
        :meth:`Transaction.savepoint` inside a transaction instead.
        """
        if self._writer is None:
            raise StorageError(f"{self.path}: opened read-only")
        if self.in_transaction():
            raise StorageError("a transaction is already open on this thread; use savepoint()")
        with self._write_lock:
            self._require_open()
            self._writer_thread = threading.get_ident()
            connection = self._writer
            transaction = _SqliteTransaction(connection)
            assert self._writer_lock_file is not None
            fcntl.flock(self._writer_lock_file, fcntl.LOCK_EX)
            try:
                with _DriverErrors():
                    connection.execute("BEGIN IMMEDIATE")
                try:
                    yield transaction
                    with _DriverErrors():
                        connection.execute("COMMIT")
                except BaseException:
                    try:
                        if connection.in_transaction:
                            with _DriverErrors():
                                connection.execute("ROLLBACK")
                    finally:
                        transaction._undo(0)
                    raise
            finally:
                fcntl.flock(self._writer_lock_file, fcntl.LOCK_UN)
                self._writer_thread = None

    def in_transaction(self) -> bool:
        return self._writer_thread == threading.get_ident()

    def _take_reader(self) -> sqlite3.Connection:
        with self._pool_lock:
            self._require_open()
            if self._idle_readers:
                return self._idle_readers.pop()
        connection = self._connect()
        if not self.read_only:
            connection.execute("PRAGMA query_only = ON")
        return connection

    def _release_reader(self, connection: sqlite3.Connection) -> None:
        with self._pool_lock:
            if self._closed or connection.in_transaction:
                connection.close()
            else:
                self._idle_readers.append(connection)

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A deferred read transaction: one snapshot from its first read to its end."""
        connection = self._take_reader()
        try:
            with _DriverErrors():
                connection.execute("BEGIN")
            try:
                yield _SqliteReader(connection)
            finally:
                with _DriverErrors():
                    connection.execute("COMMIT")
        finally:
            self._release_reader(connection)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """One statement in autocommit mode: SQLite reads it from its own snapshot, and reading every row
        ends that snapshot (a statement left part-read would keep it open)."""
        connection = self._take_reader()
        try:
            with _DriverErrors():
                return connection.execute(sql, parameters).fetchall()
        finally:
            self._release_reader(connection)

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Apply ``component``'s migrations above its recorded version, all in one transaction.

        ``migrations`` must be numbered 1, 2, ... in order; each applied step
        is recorded in ``schema_version`` (itself append-only), so the history
        of the schema stays visible. A store migrated by newer code is refused.
        """
        for expected, migration in enumerate(migrations, start=1):
            if migration.version != expected:
                raise SchemaError(f"{component}: migration {migration.version} is out of order, "
                                  f"expected version {expected}")
        with self.transaction() as tx:
            current = tx.execute(_VERSION_QUERY, (component,)).fetchone()[0]
            if current > len(migrations):
                raise SchemaError(f"{component}: the store is at schema version {current}, "
                                  f"newer than this code's {len(migrations)}")
            for migration in migrations[current:]:
                for statement in _statements(migration.script):
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_version (component, version, description, applied_at) "
                           "VALUES (?, ?, ?, ?)",
                           (component, migration.version, migration.description,
                            datetime.now(timezone.utc).isoformat()))
        return len(migrations)

    def schema_version(self, component: str) -> int:
        with self.reader() as reader:
            return reader.execute(_VERSION_QUERY, (component,)).fetchone()[0]

    def backup(self, path_to: str | Path) -> None:
        """A consistent copy of the store at ``path_to``, taken online.

        sqlite3's backup API copies every page in one step under one read
        snapshot, so the copy is exactly some committed state, while writers
        carry on (WAL readers do not block writers). The copy is written
        beside the target, fsynced, then renamed over it, so ``path_to`` only
        ever holds a complete copy.
        """
        target = Path(path_to)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        source = self._take_reader()
        try:
            with _DriverErrors():
                destination = sqlite3.connect(partial, isolation_level=None)
                try:
                    source.backup(destination)
                finally:
                    destination.close()
        finally:
            self._release_reader(source)
        _fsync_path(partial)
        os.replace(partial, target)
        _fsync_path(target.parent)

    def close(self) -> None:
        """Close every connection; waits for an open write transaction to finish."""
        with self._write_lock:
            with self._pool_lock:
                if self._closed:
                    return
                self._closed = True
                idle, self._idle_readers = self._idle_readers, []
            for connection in idle:
                connection.close()
            if self._writer is not None:
                self._writer.close()
            if self._writer_lock_file is not None:
                os.close(self._writer_lock_file)


def _statements(script: str) -> list[str]:
    """``script`` split into its statements; ``sqlite3.complete_statement`` knows where one ends
    (a ``;`` inside a string, a comment or a trigger body does not end it)."""
    statements, start = [], 0
    for end, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start:end + 1]):
            statement = script[start:end + 1].strip()
            if statement != ";":
                statements.append(statement)
            start = end + 1
    if script[start:].strip():
        raise SchemaError(f"the migration script ends in an incomplete statement: {script[start:].strip()[:60]!r}")
    return statements


def _fsync_path(path: Path) -> None:
    """fsync a file or directory, so a rename or a new file survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
