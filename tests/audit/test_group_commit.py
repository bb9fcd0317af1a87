"""The group committer: callers lead batches themselves, later arrivals share one commit, nothing is lost."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dosefinding_server.audit import AuditLogClosed
from dosefinding_server.audit.group_commit import AUDIT_SEQUENCE, GroupCommitter, Insert
from dosefinding_server.audit.records import AuditEntry, AuditRecord
from dosefinding_server.storage import IntegrityError, Migration, Transaction
from dosefinding_server.storage.sqlite import Database

from .support import entry

WAIT_SECONDS = 10.0


class CountingLog:
    """A stand-in for the audit log's two hooks: numbers records and counts the batches begun."""

    def __init__(self) -> None:
        self.batches = 0
        self.records = 0
        self.ticks = 0
        self.appending: Callable[[AuditEntry], None] = lambda audit_entry: None
        """Called as each record is appended (a test may hold the commit there, or refuse the record)."""

    def begin(self, tx: Transaction) -> None:
        self.batches += 1

    def append(self, tx: Transaction, audit_entry: AuditEntry) -> AuditRecord:
        self.appending(audit_entry)
        self.records += 1
        return AuditRecord.seal(self.records, "2026-01-01T00:00:00.000000Z", audit_entry, bytes(32))

    def tick(self) -> None:
        self.ticks += 1


@contextmanager
def committing(tmp_path: Path, tick_seconds: float = 60.0) -> Iterator[tuple[CountingLog, Database, GroupCommitter]]:
    """A committer on a fresh store with a :class:`CountingLog`; closed (twice: it must not mind) after."""
    log = CountingLog()
    with Database(tmp_path / "store.db") as database:
        database.migrate("test", [Migration(1, "CREATE TABLE rows (caller TEXT UNIQUE, audit_sequence INTEGER);")])
        group = GroupCommitter(database, log.begin, log.append, lambda: log.records + 1, max_batch=256,
                               tick=log.tick, tick_seconds=tick_seconds)
        try:
            yield log, database, group
        finally:
            group.close()
            group.close()


def row(name: str) -> tuple[Insert]:
    """A caller's writes: one row naming it, linked to its audit record."""
    return (Insert("INSERT INTO rows (caller, audit_sequence) VALUES (?, ?)", (name, AUDIT_SEQUENCE)),)


def rows(database: Database) -> dict[str, int]:
    """The rows committed: each caller's name and the sequence number of its record."""
    with database.reader() as reader:
        return dict(reader.execute("SELECT caller, audit_sequence FROM rows").fetchall())


def caller(group: GroupCommitter, receipts: dict[int, Any], n: int) -> threading.Thread:
    """A started thread committing entry ``n``, its receipt kept in ``receipts[n]``."""
    thread = threading.Thread(target=lambda: receipts.setdefault(n, group.commit(entry(n))))
    thread.start()
    return thread


def wait_until_queued(group: GroupCommitter, count: int) -> None:
    """Until ``count`` callers are in the queue (the leader among them)."""
    while len(group._queue) < count:
        threading.Event().wait(0.001)


def finish(threads: list[threading.Thread], receipts: dict[int, Any]) -> list[int]:
    """Join the callers; the sequence numbers they were given, in order."""
    for thread in threads:
        thread.join(WAIT_SECONDS)
    return sorted(receipt.seq for receipt in receipts.values())


def test_an_uncontended_caller_commits_in_its_own_thread(tmp_path: Path) -> None:
    with committing(tmp_path) as (log, database, group):
        committed_in: list[int] = []
        log.appending = lambda audit_entry: committed_in.append(threading.get_ident())
        receipt = group.commit(entry(0), row("alone"))
        assert committed_in == [threading.get_ident()] and rows(database) == {"alone": 1}
        assert receipt.seq == 1 and log.batches == 1 and log.ticks >= 1


def test_callers_arriving_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    with committing(tmp_path) as (log, database, group):
        inside, release = threading.Event(), threading.Event()

        def held(audit_entry: AuditEntry) -> None:
            if audit_entry == entry(0):
                inside.set()
                assert release.wait(WAIT_SECONDS)

        log.appending = held
        receipts: dict[int, Any] = {}
        threads = [caller(group, receipts, 0)]
        assert inside.wait(WAIT_SECONDS)
        threads += [caller(group, receipts, n) for n in range(1, 6)]
        wait_until_queued(group, 6)
        release.set()
        assert finish(threads, receipts) == [1, 2, 3, 4, 5, 6]
        assert log.batches == 2


def test_callers_queued_while_the_leader_waits_for_the_store_join_its_commit(tmp_path: Path) -> None:
    """Another writer (another worker process) holds the store: everyone queued meanwhile commits together."""
    with committing(tmp_path) as (log, database, group):
        receipts: dict[int, Any] = {}
        with database.transaction():
            threads = [caller(group, receipts, n) for n in range(6)]
            wait_until_queued(group, 6)
        assert finish(threads, receipts) == [1, 2, 3, 4, 5, 6]
        assert log.batches == 1


def test_a_failing_caller_gets_its_error_and_the_batch_still_commits(tmp_path: Path) -> None:
    with committing(tmp_path) as (log, database, group):

        def refused(audit_entry: AuditEntry) -> None:
            if audit_entry == entry(0):
                raise ValueError("refused record")

        log.appending = refused
        with pytest.raises(ValueError, match="refused record"):
            group.commit(entry(0), row("refused"))
        with pytest.raises(IntegrityError):
            group.commit(entry(1), row("duplicate") + row("duplicate"))
        assert group.commit(entry(2), row("kept")).seq == 1
        assert rows(database) == {"kept": 1}


def test_an_idle_committer_ticks_and_a_closed_one_refuses(tmp_path: Path) -> None:
    with committing(tmp_path, tick_seconds=0.01) as (log, database, group):
        while log.ticks < 3:
            threading.Event().wait(0.005)
        assert log.batches == 0
        group.close()
        with pytest.raises(AuditLogClosed):
            group.commit(entry(0))


def test_many_callers_each_get_their_own_record(tmp_path: Path) -> None:
    with committing(tmp_path) as (log, database, group):
        seqs: list[int] = []
        guard = threading.Lock()

        def appender(n: int) -> None:
            for i in range(25):
                receipt = group.commit(entry(i), row(f"{n}-{i}"))
                with guard:
                    seqs.append(receipt.seq)

        threads = [threading.Thread(target=appender, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS * 6)
        assert sorted(seqs) == list(range(1, 201))
        assert sorted(rows(database).values()) == sorted(seqs) and len(rows(database)) == 200
