"""The tamper matrix: an attacker with the database file (triggers dropped with raw sqlite3,
then put back) changes it; verification must fail and name the first bad record.

The log under attack has the key record and 30 entries, with checkpoints at
tree sizes 1, 11, 21 and 31 (the last signed on close); an online backup was
taken at 15 records.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pytest

from dosefinding_server.audit import Checkpoint, LogIntegrityError, open_audit_log, verify_log
from dosefinding_server.audit.merkle import Frontier
from dosefinding_server.audit.schema import INSERT_RECORD, SELECT_RECORDS, record_from_row, record_row
from dosefinding_server.audit.signing import sign_checkpoint
from dosefinding_server.storage.sqlite import Database

from .support import KEY, OTHER_KEY, StepClock, attacker, entry, flip, new_log

Attack = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Built:
    path: Path
    old_copy: Path
    trusted: Checkpoint


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    directory = tmp_path_factory.mktemp("tamper")
    database, log = new_log(directory / "audit.db", checkpoint_every=10, clock=StepClock())
    for i in range(30):
        log.append_durable(entry(i))
        if log.size == 15:
            database.backup(directory / "old-copy.db")
    log.close()
    trusted = log.latest_checkpoint()
    database.close()
    assert trusted is not None and trusted.tree_size == 31
    return Built(directory / "audit.db", directory / "old-copy.db", trusted)


def set_column(seq: int, column: str, change: Callable[[Any], Any]) -> Attack:
    def attack(db: sqlite3.Connection) -> None:
        value = db.execute(f"SELECT {column} FROM audit_records WHERE seq = ?", (seq,)).fetchone()[0]
        db.execute(f"UPDATE audit_records SET {column} = ? WHERE seq = ?", (change(value), seq))
    return attack


def flip_signature(tree_size: int) -> Attack:
    def attack(db: sqlite3.Connection) -> None:
        signature = db.execute("SELECT signature FROM audit_checkpoints WHERE tree_size = ?",
                               (tree_size,)).fetchone()[0]
        db.execute("UPDATE audit_checkpoints SET signature = ? WHERE tree_size = ?", (flip(signature), tree_size))
    return attack


def swap_rows(db: sqlite3.Connection) -> None:
    rows = {row[0]: row for row in db.execute(f"{SELECT_RECORDS} WHERE seq IN (17, 18)")}
    db.execute("DELETE FROM audit_records WHERE seq IN (17, 18)")
    db.execute(INSERT_RECORD, (17, *rows[18][1:]))
    db.execute(INSERT_RECORD, (18, *rows[17][1:]))


def truncate(first_gone: int, checkpoints_too: bool) -> Attack:
    def attack(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM audit_records WHERE seq >= ?", (first_gone,))
        if checkpoints_too:
            db.execute("DELETE FROM audit_checkpoints WHERE tree_size >= ?", (first_gone,))
            db.execute("DELETE FROM audit_tree_nodes WHERE (idx + 1) << level >= ?", (first_gone,))
    return attack


def rewrite_and_rehash(seq: int, drop_checkpoints_after: int | None) -> Attack:
    """Alter a record and recompute every later hash and Merkle node, as an attacker without the key can."""
    def attack(db: sqlite3.Connection) -> None:
        records = [record_from_row(row) for row in db.execute(f"{SELECT_RECORDS} ORDER BY seq")]
        target = records[seq - 1]
        records[seq - 1] = replace(target, entry=replace(target.entry, response=b'{"recommended_dose":4}'))
        db.execute("DELETE FROM audit_records WHERE seq >= ?", (seq,))
        db.execute("DELETE FROM audit_tree_nodes")
        frontier, previous = Frontier(), records[seq - 2].leaf_hash
        for record in records:
            if record.seq >= seq:
                record = type(record).seal(record.seq, record.recorded_at, record.entry, previous)
                db.execute(INSERT_RECORD, record_row(record))
            previous = record.leaf_hash
            frontier, nodes = frontier.append(record.leaf_hash)
            db.executemany("INSERT INTO audit_tree_nodes VALUES (?, ?, ?)",
                           [(node.level, node.index, node.hash) for node in nodes])
        if drop_checkpoints_after is not None:
            db.execute("DELETE FROM audit_checkpoints WHERE tree_size > ?", (drop_checkpoints_after,))
    return attack


def forge_checkpoint(db: sqlite3.Connection) -> None:
    root = db.execute("SELECT root_hash FROM audit_checkpoints WHERE tree_size = 21").fetchone()[0]
    forged = sign_checkpoint(OTHER_KEY, 21, root, "2025-03-01T09:00:30.000000Z")
    db.execute("DELETE FROM audit_checkpoints WHERE tree_size = 21")
    db.execute("INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?)",
               (forged.tree_size, forged.root_hash, forged.signed_at, forged.key_id, forged.signature))


def replace_key(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit_keys SET public_key = ?", (bytes(32),))


def alter_node(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit_tree_nodes SET hash = ? WHERE level = 1 AND idx = 8", (bytes(32),))


CASES = {  # name: (attack, with trusted checkpoint, first bad seq, checkpoint named, words in the problem)
    "request byte": (set_column(17, "request", flip), False, 17, None, "does not match its stored leaf hash"),
    "response byte": (set_column(17, "response", lambda v: flip(v, 5)), False, 17, None, "altered"),
    "principal": (set_column(17, "principal", lambda v: "mallory"), False, 17, None, "altered"),
    "recorded_at": (set_column(17, "recorded_at", lambda v: v.replace("09:00", "08:59")), False, 17, None,
                    "altered"),
    "leaf hash byte": (set_column(17, "leaf_hash", flip), False, 17, None, "does not match its stored leaf hash"),
    "prev hash byte": (set_column(17, "prev_hash", flip), False, 17, None, "does not match its stored leaf hash"),
    "malformed seed": (set_column(17, "seed", lambda v: "0" + v), False, 17, None, "malformed field: seed"),
    "signature byte": (flip_signature(21), False, None, 21, "signature of the checkpoint"),
    "checkpoint root": (lambda db: db.execute("UPDATE audit_checkpoints SET root_hash = ? WHERE tree_size = 11",
                                              (bytes(32),)), False, None, 11, "forged or altered"),
    "deleted row": (lambda db: db.execute("DELETE FROM audit_records WHERE seq = 17"), False, 17, None,
                    "record 17 is missing"),
    "swapped rows": (swap_rows, False, 17, None, "altered"),
    "truncated tail": (truncate(26, checkpoints_too=False), False, 26, 31, "records 26..31 were removed"),
    "truncated tail and its checkpoint": (truncate(26, checkpoints_too=True), True, 26, 31, "shrunk"),
    "rewritten and rehashed": (rewrite_and_rehash(17, None), False, 12, 21, "records 12..21"),
    "rewritten, rehashed, checkpoints dropped": (rewrite_and_rehash(17, 11), True, None, 31, "forked"),
    "forged checkpoint": (forge_checkpoint, False, None, 21, "forged"),
    "replaced key": (replace_key, False, 1, None, "audit_keys"),
    "altered Merkle node": (alter_node, False, 17, None, "Merkle node (level 1, index 8)"),
}


@pytest.mark.parametrize("name", CASES)
def test_tampering_is_detected_and_located(built: Built, tmp_path: Path, name: str) -> None:
    attack, use_trusted, first_bad, checkpoint, words = CASES[name]
    target = tmp_path / "audit.db"
    shutil.copy(built.path, target)
    with attacker(target) as db:
        attack(db)
    report = verify_log(target, built.trusted if use_trusted else None, public_keys=[KEY.public_key()])
    assert not report.ok, name
    assert (report.first_bad_seq, report.checkpoint_tree_size) == (first_bad, checkpoint), report
    assert words in str(report), report
    assert "FAILED" in str(report)


def test_untouched_copy_verifies(built: Built) -> None:
    report = verify_log(built.path, built.trusted, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 31 and report.checkpoints == 4 and report.signed_records == 31, report


def test_clean_tail_truncation_needs_a_trusted_checkpoint(built: Built, tmp_path: Path) -> None:
    target = tmp_path / "audit.db"
    shutil.copy(built.path, target)
    with attacker(target) as db:
        truncate(26, checkpoints_too=True)(db)
    report = verify_log(target, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 25 and report.signed_records == 21


def test_restored_older_copy_is_refused_against_a_newer_checkpoint(built: Built) -> None:
    assert verify_log(built.old_copy, public_keys=[KEY.public_key()]).ok
    report = verify_log(built.old_copy, built.trusted, public_keys=[KEY.public_key()])
    assert not report.ok and report.first_bad_seq == 16 and report.checkpoint_tree_size == 31
    assert "shrunk" in str(report) and "older copy" in str(report)


def test_forged_or_altered_trusted_checkpoints_are_rejected(built: Built) -> None:
    forged = sign_checkpoint(OTHER_KEY, 31, built.trusted.root_hash, built.trusted.signed_at)
    report = verify_log(built.path, forged, public_keys=[KEY.public_key()])
    assert not report.ok and "rejected as forged" in str(report)
    altered = replace(built.trusted, tree_size=40)
    report = verify_log(built.path, altered, public_keys=[KEY.public_key()])
    assert not report.ok and "signature does not verify" in str(report)


def test_appended_forgery_shows_only_as_an_unsigned_tail(built: Built, tmp_path: Path) -> None:
    """Records after the last checkpoint are chained but unsigned: a forged append there is not
    detectable by anyone without the key, only visible as ``signed_records < records``."""
    target = tmp_path / "audit.db"
    shutil.copy(built.path, target)
    with attacker(target) as db:
        frontier = Frontier()
        for (leaf,) in db.execute("SELECT leaf_hash FROM audit_records ORDER BY seq").fetchall():
            frontier, _ = frontier.append(leaf)
        last = record_from_row(db.execute(f"{SELECT_RECORDS} WHERE seq = 31").fetchone())
        forged = type(last).seal(32, last.recorded_at, entry(99), last.leaf_hash)
        db.execute(INSERT_RECORD, record_row(forged))
        db.executemany("INSERT INTO audit_tree_nodes VALUES (?, ?, ?)",
                       [(node.level, node.index, node.hash) for node in frontier.append(forged.leaf_hash)[1]])
    report = verify_log(target, built.trusted, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 32 and report.signed_records == 31, report


def test_dropped_triggers_are_detected(built: Built, tmp_path: Path) -> None:
    target = tmp_path / "audit.db"
    shutil.copy(built.path, target)
    raw = sqlite3.connect(target)
    raw.execute("DROP TRIGGER audit_records_no_delete")
    raw.commit()
    raw.close()
    report = verify_log(target, public_keys=[KEY.public_key()])
    assert not report.ok and "audit_records_no_delete" in str(report)


def test_server_refuses_to_start_on_a_tampered_log(built: Built, tmp_path: Path) -> None:
    target = tmp_path / "audit.db"
    shutil.copy(built.path, target)
    with attacker(target) as db:
        set_column(17, "request", flip)(db)
    with Database(target) as database:
        with pytest.raises(LogIntegrityError, match="refusing to start.*record 17"):
            open_audit_log(database, KEY)
