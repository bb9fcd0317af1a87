"""The audit log: appending in and out of the caller's transaction, group commit, checkpoints,
proofs, key rotation, append-only triggers, concurrency and online backup."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from dosefinding_server.audit import (AuditError, AuditLog, AuditLogClosed, Checkpoint, CheckpointRejected,
                                      InvalidEntry, LogIntegrityError, check_checkpoint_update, verify_log)
from dosefinding_server.audit.group_commit import AUDIT_SEQUENCE, Insert
from dosefinding_server.audit.keys import KEY_METHOD, KeyIntroduction
from dosefinding_server.audit.signing import key_id, sign_checkpoint
from dosefinding_server.storage import IntegrityError, Migration, Transaction
from dosefinding_server.storage.sqlite import Database

from .support import KEY, OTHER_KEY, StepClock, entry, new_log

TRIAL_EVENTS = (Migration(1, "CREATE TABLE trial_events (id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, "
                             "event TEXT NOT NULL UNIQUE, audit_sequence INTEGER NOT NULL) STRICT;"),)


def insert_event(event: str) -> tuple[Insert]:
    """The writes of a call that records ``event``, linked to the call's audit record."""
    return (Insert("INSERT INTO trial_events (trial_id, event, audit_sequence) VALUES ('TRIAL-0', ?, ?)",
                   (event, AUDIT_SEQUENCE)),)


def write_now(tx: Transaction, writes: tuple[Insert, ...], audit_sequence: int) -> None:
    for row in writes:
        tx.execute(row.sql, row.bind(audit_sequence))


def test_a_new_log_starts_with_its_key_and_a_checkpoint(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    first = log.record(1)
    assert first.entry.method == KEY_METHOD
    assert KeyIntroduction.from_entry(first.entry).key_id == key_id(KEY.public_key()) == log.key_id
    checkpoint = log.latest_checkpoint()
    assert checkpoint is not None and checkpoint.tree_size == 1 and checkpoint.root_hash == first.leaf_hash
    log.close()
    database.close()


def test_append_rides_the_callers_transaction(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    database.migrate("trial", TRIAL_EVENTS)
    with pytest.raises(RuntimeError):
        with database.transaction() as tx:
            write_now(tx, insert_event("cohort 1"), 2)
            assert log.append(entry(0), tx) == 2
            raise RuntimeError("the decision failed after the audit append")
    assert log.size == 1
    with database.transaction() as tx:
        write_now(tx, insert_event("cohort 1"), 2)
        assert log.append(entry(0), tx) == 2
    assert log.record(2).entry == entry(0)
    log.close()
    assert verify_log(database, public_keys=[KEY.public_key()]).ok
    database.close()


def test_group_commit_runs_extra_writes_first_and_isolates_a_failing_caller(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    database.migrate("trial", TRIAL_EVENTS)
    receipt = log.append_durable(entry(0), insert_event("cohort 1"))
    assert receipt.seq == 2
    assert receipt.leaf_hash == log.record(2).leaf_hash
    with pytest.raises(IntegrityError):
        log.append_durable(entry(1), insert_event("cohort 2") + insert_event("cohort 1"))
    assert log.append_durable(entry(2)).seq == 3
    with database.reader() as reader:
        assert reader.execute("SELECT event, audit_sequence FROM trial_events").fetchall() == [("cohort 1", 2)]
    log.close()
    assert verify_log(database, public_keys=[KEY.public_key()]).ok
    database.close()


def test_callers_cannot_forge_key_records_or_bad_corrections(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    with pytest.raises(InvalidEntry, match="only by the audit log"):
        log.append_durable(entry(0, method=KEY_METHOD))
    with pytest.raises(InvalidEntry, match="earlier"):
        log.append_durable(entry(0, corrects_seq=2, reason="self"))
    correction = log.append_durable(entry(0, corrects_seq=1, reason="entered against the wrong trial"))
    assert log.record(correction.seq).entry.corrects_seq == 1
    log.close()
    database.close()


def test_checkpoints_every_n_and_on_close_with_proofs(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=4)
    for i in range(10):
        log.append_durable(entry(i))
    log.close()
    with database.reader() as reader:
        signed = [Checkpoint(*row) for row in reader.execute("SELECT * FROM audit_checkpoints ORDER BY tree_size")]
    assert [checkpoint.tree_size for checkpoint in signed] == [1, 5, 9, 11]
    for checkpoint in signed:
        assert checkpoint.root_hash == log.root_hash(checkpoint.tree_size)
        for seq in range(1, checkpoint.tree_size + 1):
            assert log.inclusion_proof(seq, checkpoint.tree_size).verify(checkpoint.root_hash)
    for old in signed:
        for new in signed:
            if old.tree_size <= new.tree_size:
                check_checkpoint_update(old, new, log.consistency_proof(old.tree_size, new.tree_size),
                                        public_keys=[KEY.public_key()])
    with pytest.raises(ValueError, match="committed"):
        log.inclusion_proof(1, 12)
    assert log.latest_checkpoint() == signed[-1]
    database.close()


def test_a_quiet_log_signs_its_unsigned_records_after_checkpoint_seconds(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_seconds=0.05)
    with database.transaction() as tx:
        seq = log.append(entry(0), tx)
    deadline = time.monotonic() + 5
    while (latest := log.latest_checkpoint()) is None or latest.tree_size < seq:
        assert time.monotonic() < deadline, "no checkpoint was signed"
        time.sleep(0.02)
    log.close()
    database.close()


def test_forged_and_shrinking_checkpoint_updates_are_rejected(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=3)
    for i in range(6):
        log.append_durable(entry(i))
    old = log.checkpoint()
    for i in range(6, 9):
        log.append_durable(entry(i))
    new = log.checkpoint()
    proof = log.consistency_proof(old.tree_size, new.tree_size)
    keys = [KEY.public_key()]
    with pytest.raises(CheckpointRejected, match="shrank"):
        check_checkpoint_update(new, old, proof, public_keys=keys)
    forged = sign_checkpoint(OTHER_KEY, new.tree_size, new.root_hash, new.signed_at)
    with pytest.raises(CheckpointRejected, match="trusted key"):
        check_checkpoint_update(old, forged, proof, public_keys=keys)
    fork = sign_checkpoint(KEY, new.tree_size, bytes(32), new.signed_at)
    with pytest.raises(CheckpointRejected, match="fork"):
        check_checkpoint_update(old, fork, proof, public_keys=keys)
    log.close()
    database.close()


@pytest.mark.parametrize("table", ["audit_records", "audit_checkpoints", "audit_keys", "audit_tree_nodes"])
def test_triggers_abort_update_and_delete(tmp_path: Path, table: str) -> None:
    database, log = new_log(tmp_path / "audit.db")
    for i in range(3):
        log.append_durable(entry(i))
    log.close()
    for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET rowid = rowid" if table != "audit_tree_nodes"
                      else "UPDATE audit_tree_nodes SET hash = hash"):
        with pytest.raises(IntegrityError, match="append-only"):
            with database.transaction() as tx:
                tx.execute(statement)
    database.close()
    raw = sqlite3.connect(tmp_path / "audit.db")
    raw.execute("PRAGMA recursive_triggers = ON")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("INSERT OR REPLACE INTO audit_records SELECT * FROM audit_records WHERE seq = 1")
    raw.close()


def test_reopen_continues_the_log_and_requires_the_active_key(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=2)
    for i in range(5):
        log.append_durable(entry(i))
    root = log.root_hash(6)
    log.close()
    with pytest.raises(LogIntegrityError, match="not the log's active key"):
        new_log(tmp_path / "audit.db", OTHER_KEY)
    database.close()
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=2)
    assert log.size == 6 and log.root_hash(6) == root
    assert log.append_durable(entry(5)).seq == 7
    log.close()
    assert verify_log(database, public_keys=[KEY.public_key()]).ok
    database.close()


def test_key_rotation_is_recorded_endorsed_and_verifiable(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=3)
    for i in range(4):
        log.append_durable(entry(i))
    rotated = log.rotate_key(OTHER_KEY)
    introduction = KeyIntroduction.from_entry(log.record(rotated.tree_size).entry)
    assert introduction.previous_key_id == key_id(KEY.public_key())
    assert rotated.key_id == log.key_id == introduction.key_id == key_id(OTHER_KEY.public_key())
    with database.reader() as reader:
        before = reader.execute("SELECT key_id FROM audit_checkpoints WHERE tree_size = ?",
                                (rotated.tree_size - 1,)).fetchone()[0]
    assert before == key_id(KEY.public_key())
    for i in range(4, 8):
        log.append_durable(entry(i))
    log.close()
    latest = log.latest_checkpoint()
    assert latest is not None and verify_log(database, latest, public_keys=[KEY.public_key()]).ok
    by_retired_key = sign_checkpoint(KEY, latest.tree_size, latest.root_hash, latest.signed_at)
    report = verify_log(database, by_retired_key, public_keys=[KEY.public_key()])
    assert not report.ok and "rejected as forged" in str(report)
    report = verify_log(database, public_keys=[OTHER_KEY.public_key()])
    assert not report.ok and report.first_bad_seq == 1 and "not among the trusted" in str(report)
    with pytest.raises(LogIntegrityError):
        new_log(tmp_path / "audit.db", KEY)
    database.close()


def test_waiting_for_group_commit_inside_a_transaction_is_refused(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    with database.transaction():
        with pytest.raises(AuditError, match="append"):
            log.append_durable(entry(0))
    log.close()
    database.close()


def test_closed_log_refuses_appends(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    log.close()
    log.close()
    with pytest.raises(AuditLogClosed):
        log.append_durable(entry(0))
    with pytest.raises(AuditLogClosed):
        with database.transaction() as tx:
            log.append(entry(0), tx)
    database.close()


def test_concurrent_appends_are_contiguous_and_verify(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=25, clock=StepClock())
    database.migrate("trial", TRIAL_EVENTS)
    seqs: list[int] = []
    lock = threading.Lock()

    def client(thread: int) -> None:
        for i in range(40):
            if i % 5 == 0:
                with database.transaction() as tx:
                    seq = log.append(entry(i), tx)
            else:
                seq = log.append_durable(entry(i), insert_event(f"{thread}-{i}")).seq
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seqs) == list(range(2, 2 + 8 * 40))
    log.close()
    report = verify_log(database, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 1 + 8 * 40, report
    database.close()


def test_two_writers_of_one_log_interleave_into_one_chain(tmp_path: Path) -> None:
    """Two logs on one file, as two worker processes have them: each catches up with the other's records."""
    path = tmp_path / "audit.db"
    first_db, first = new_log(path, checkpoint_every=7)
    second_db, second = new_log(path, checkpoint_every=7)
    first_db.migrate("trial", TRIAL_EVENTS)
    seqs: list[int] = []
    lock = threading.Lock()

    def client(log: AuditLog, thread: int) -> None:
        for i in range(30):
            seq = log.append_durable(entry(i), insert_event(f"{thread}-{i}")).seq
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=client, args=(log, n)) for n, log in enumerate([first, second] * 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seqs) == list(range(2, 2 + 6 * 30))
    assert first.size == second.size == 1 + 6 * 30
    second.close()
    first.close()
    assert first.latest_checkpoint().tree_size == 1 + 6 * 30
    report = verify_log(first_db, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 1 + 6 * 30, report
    first_db.close()
    second_db.close()


@pytest.mark.parametrize("others", [1, 3, 70])
def test_a_writer_catches_up_with_any_number_of_records_another_wrote(tmp_path: Path, others: int) -> None:
    path = tmp_path / "audit.db"
    first_db, first = new_log(path, checkpoint_every=1000)
    second_db, second = new_log(path, checkpoint_every=1000)
    for i in range(others):
        second.append_durable(entry(i))
    receipt = first.append_durable(entry(others))
    assert receipt.seq == 2 + others
    first.close()
    second.close()
    report = verify_log(first_db, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 2 + others, report
    first_db.close()
    second_db.close()


def test_a_writer_refuses_to_append_after_another_rotated_the_key(tmp_path: Path) -> None:
    """A key introduced by another writer is noticed at catch-up: the old key may no longer sign."""
    path = tmp_path / "audit.db"
    first_db, first = new_log(path)
    second_db, second = new_log(path)
    first.append_durable(entry(1))
    second.rotate_key(OTHER_KEY)
    with pytest.raises(LogIntegrityError, match="not the log's active key"):
        first.append_durable(entry(2))
    second.close()
    first_db.close()
    second_db.close()


def test_online_backup_while_appending_verifies(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=10)
    stop = threading.Event()

    def appender() -> None:
        i = 0
        while not stop.is_set():
            log.append_durable(entry(i))
            i += 1

    threads = [threading.Thread(target=appender) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        sizes = []
        for n in range(3):
            while log.size < 20 * (n + 1):
                stop.wait(0.005)
            database.backup(tmp_path / f"backup-{n}.db")
            report = verify_log(tmp_path / f"backup-{n}.db", public_keys=[KEY.public_key()])
            assert report.ok, report
            sizes.append(report.records)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    log.close()
    assert sizes == sorted(sizes) and sizes[-1] <= log.size
    latest = log.latest_checkpoint()
    assert latest is not None and verify_log(database, latest, public_keys=[KEY.public_key()]).ok
    database.close()


def test_a_store_failure_fails_the_whole_batch_and_restores_the_position(tmp_path: Path) -> None:
    database = Database(tmp_path / "audit.db")
    log = AuditLog(database, KEY)
    database.migrate("trial", TRIAL_EVENTS)
    with database.transaction() as tx:
        tx.execute("CREATE TRIGGER refuse_commit AFTER INSERT ON trial_events "
                   "WHEN NEW.event = 'poison' BEGIN SELECT RAISE(ROLLBACK, 'disk on fire'); END")
    with pytest.raises(Exception, match="disk on fire"):
        log.append_durable(entry(0), insert_event("poison"))
    assert log.size == 1
    assert log.append_durable(entry(1)).seq == 2
    log.close()
    assert verify_log(database, public_keys=[KEY.public_key()]).ok
    database.close()
