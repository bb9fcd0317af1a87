"""The group committer: callers lead batches themselves, later arrivals share one commit, nothing is lost."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from dosefinding_server.audit import AuditLogClosed
from dosefinding_server.audit.group_commit import GroupCommitter
from dosefinding_server.audit.records import AuditEntry, AuditRecord
from dosefinding_server.storage import Transaction
from dosefinding_server.storage.sqlite import Database

from .support import entry

WAIT_SECONDS = 10.0


class CountingLog:
    """A stand-in for the audit log's two hooks: numbers records and counts the batches begun."""

    def __init__(self) -> None:
        self.batches = 0
        self.records = 0
        self.ticks = 0

    def begin(self, tx: Transaction) -> None:
        self.batches += 1

    def append(self, tx: Transaction, audit_entry: AuditEntry) -> AuditRecord:
        self.records += 1
        return AuditRecord.seal(self.records, "2026-01-01T00:00:00.000000Z", audit_entry, bytes(32))

    def tick(self) -> None:
        self.ticks += 1


@contextmanager
def committing(tmp_path: Path, tick_seconds: float = 60.0) -> Iterator[tuple[CountingLog, Database, GroupCommitter]]:
    """A committer on a fresh store with a :class:`CountingLog`; closed (twice: it must not mind) after."""
    log = CountingLog()
    with Database(tmp_path / "store.db") as database:
        group = GroupCommitter(database, log.begin, log.append, lambda: log.records + 1, max_batch=256,
                               tick=log.tick, tick_seconds=tick_seconds)
        try:
            yield log, database, group
        finally:
            group.close()
            group.close()


def caller(group: GroupCommitter, receipts: dict[int, Any], n: int, writes: Any = None) -> threading.Thread:
    """A started thread committing entry ``n`` (after ``writes``), its receipt kept in ``receipts[n]``."""
    thread = threading.Thread(target=lambda: receipts.setdefault(n, group.commit(entry(n), writes)))
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
        receipt = group.commit(entry(0), lambda tx, seq: (threading.get_ident(), seq))
        assert receipt.writes_result == (threading.get_ident(), receipt.seq)
        assert receipt.seq == 1 and log.batches == 1 and log.ticks >= 1


def test_callers_arriving_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    with committing(tmp_path) as (log, database, group):
        inside, release = threading.Event(), threading.Event()

        def held(tx: Transaction, sequence: int) -> None:
            inside.set()
            assert release.wait(WAIT_SECONDS)

        receipts: dict[int, Any] = {}
        threads = [caller(group, receipts, 0, held)]
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

        def refused(tx: Transaction, sequence: int) -> None:
            raise ValueError("refused writes")

        with pytest.raises(ValueError, match="refused writes"):
            group.commit(entry(0), refused)
        assert group.commit(entry(1)).seq == 1


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
                receipt = group.commit(entry(i), lambda tx, seq, n=n, i=i: (n, i))
                assert receipt.writes_result == (n, i)
                with guard:
                    seqs.append(receipt.seq)

        threads = [threading.Thread(target=appender, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS * 6)
        assert sorted(seqs) == list(range(1, 201))
