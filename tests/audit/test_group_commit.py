"""The group committer: callers lead batches themselves, later arrivals share one commit, nothing is lost."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

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


def committer(tmp_path: Path, log: CountingLog, tick_seconds: float = 60.0) -> tuple[Database, GroupCommitter]:
    database = Database(tmp_path / "store.db")
    return database, GroupCommitter(database, log.begin, log.append, lambda: log.records + 1, max_batch=256,
                                    tick=log.tick, tick_seconds=tick_seconds)


def test_an_uncontended_caller_commits_in_its_own_thread(tmp_path: Path) -> None:
    log = CountingLog()
    database, group = committer(tmp_path, log)
    receipt = group.commit(entry(0), lambda tx, seq: (threading.get_ident(), seq))
    assert receipt.writes_result == (threading.get_ident(), receipt.seq)
    assert receipt.seq == 1 and log.batches == 1 and log.ticks >= 1
    group.close()
    database.close()


def test_callers_arriving_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    log = CountingLog()
    database, group = committer(tmp_path, log)
    inside, release = threading.Event(), threading.Event()

    def held(tx: Transaction, sequence: int) -> None:
        inside.set()
        assert release.wait(WAIT_SECONDS)

    receipts: dict[int, Any] = {}
    first = threading.Thread(target=lambda: receipts.setdefault(0, group.commit(entry(0), held)))
    first.start()
    assert inside.wait(WAIT_SECONDS)
    later = [threading.Thread(target=lambda n=n: receipts.setdefault(n, group.commit(entry(n))))
             for n in range(1, 6)]
    for thread in later:
        thread.start()
    while len(group._queue) < 6:  # every later caller is queued behind the held batch
        threading.Event().wait(0.001)
    release.set()
    for thread in [first, *later]:
        thread.join(WAIT_SECONDS)
    assert sorted(r.seq for r in receipts.values()) == [1, 2, 3, 4, 5, 6]
    assert log.batches == 2
    group.close()
    database.close()


def test_callers_queued_while_the_leader_waits_for_the_store_join_its_commit(tmp_path: Path) -> None:
    """Another writer (another worker process) holds the store: everyone queued meanwhile commits together."""
    log = CountingLog()
    database, group = committer(tmp_path, log)
    receipts: dict[int, Any] = {}
    callers = [threading.Thread(target=lambda n=n: receipts.setdefault(n, group.commit(entry(n)))) for n in range(6)]
    with database.transaction():
        for thread in callers:
            thread.start()
        while len(group._queue) < len(callers):
            threading.Event().wait(0.001)
    for thread in callers:
        thread.join(WAIT_SECONDS)
    assert sorted(r.seq for r in receipts.values()) == [1, 2, 3, 4, 5, 6]
    assert log.batches == 1
    group.close()
    database.close()


def test_a_failing_caller_gets_its_error_and_the_batch_still_commits(tmp_path: Path) -> None:
    log = CountingLog()
    database, group = committer(tmp_path, log)

    def refused(tx: Transaction, sequence: int) -> None:
        raise ValueError("refused writes")

    with pytest.raises(ValueError, match="refused writes"):
        group.commit(entry(0), refused)
    assert group.commit(entry(1)).seq == 1
    group.close()
    database.close()


def test_an_idle_committer_ticks_and_a_closed_one_refuses(tmp_path: Path) -> None:
    log = CountingLog()
    database, group = committer(tmp_path, log, tick_seconds=0.01)
    while log.ticks < 3:
        threading.Event().wait(0.005)
    assert log.batches == 0
    group.close()
    group.close()
    with pytest.raises(AuditLogClosed):
        group.commit(entry(0))
    database.close()


def test_many_callers_each_get_their_own_record(tmp_path: Path) -> None:
    log = CountingLog()
    database, group = committer(tmp_path, log)
    seqs: list[int] = []
    guard = threading.Lock()

    def caller(n: int) -> None:
        for i in range(25):
            receipt = group.commit(entry(i), lambda tx, seq, n=n, i=i: (n, i))
            assert receipt.writes_result == (n, i)
            with guard:
                seqs.append(receipt.seq)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 6)
    assert sorted(seqs) == list(range(1, 201))
    group.close()
    database.close()
