"""Offline verification of an audit log: was anything changed, removed or forged?

:func:`verify_log` reads a store (typically a copy, opened read-only) and
recomputes everything from the records alone, trusting nothing derived:

1. ``seq`` runs 1, 2, 3, ... without gaps;
2. each record's leaf hash is recomputed from its canonical bytes and
   compared with the stored one, and its ``prev_hash`` with the previous
   record's leaf hash (the hash chain);
3. the RFC 9162 Merkle tree is rebuilt; every stored subtree node must match;
4. signing keys are followed through the log: the first must be trusted
   outright, each later one trusted or endorsed by its predecessor;
5. each stored checkpoint must be signed by the key active at its tree size
   and carry the root recomputed at that size;
6. an outside ``trusted_checkpoint`` (kept by a monitor, a regulator or the
   last start-up) must be genuine, and the log must still hold its records
   unchanged: a shorter log has been truncated or restored from an older
   copy, a different root means the log was rewritten (a fork).

The report names the first problem met in log order. ``first_bad_seq`` is
the first record at which verification fails; where the evidence narrows
it only to a range (a signed root or stored node that does not match records
whose own hashes agree, i.e. the hashes were recomputed after an alteration)
it is the first record of that range, and the problem names the range.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NoReturn, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..storage import Reader, Storage, StorageError
from ..storage.sqlite import Database
from .errors import CheckpointRejected, InvalidEntry, LogIntegrityError
from .keys import KEY_METHOD, KeyIntroduction
from .merkle import EMPTY_ROOT, Frontier, NodeSource, verify_consistency
from .records import GENESIS_PREV_HASH, AuditRecord
from .schema import (APPEND_ONLY_TRIGGERS, COMPONENT, MIGRATIONS, SELECT_CHECKPOINTS, SELECT_RECORDS, node_source,
                     record_from_row)
from .signing import Checkpoint, endorsement_valid, key_id, public_key_from_raw


@dataclass(frozen=True)
class VerificationReport:
    """The outcome: ``ok``, or the first problem, where it is, and what it is in words.

    ``signed_records`` is the tree size of the last checkpoint verified:
    records after it are chained but not yet signed, so changes confined to
    that tail (cutting it off, or appending to it) show only against a
    trusted checkpoint kept outside the store.
    """

    ok: bool
    records: int
    checkpoints: int
    root_hash: bytes
    signed_records: int = 0
    first_bad_seq: int | None = None
    checkpoint_tree_size: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return (f"audit log verified: {self.records} records ({self.signed_records} under a signed "
                    f"checkpoint), {self.checkpoints} checkpoints, root {self.root_hash.hex()}")
        where = []
        if self.first_bad_seq is not None:
            where.append(f"record {self.first_bad_seq}")
        if self.checkpoint_tree_size is not None:
            where.append(f"checkpoint at tree size {self.checkpoint_tree_size}")
        return f"audit log verification FAILED ({', '.join(where) or 'store'}): {self.problem}"


class _Failure(Exception):
    def __init__(self, problem: str, seq: int | None = None, checkpoint: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.seq, self.checkpoint = problem, seq, checkpoint


def _fail(problem: str, seq: int | None = None, checkpoint: int | None = None) -> NoReturn:
    raise _Failure(problem, seq, checkpoint)


def _signature_ok(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Whether the signature holds; a malformed (tampered) checkpoint simply does not verify."""
    try:
        return checkpoint.signature_valid(public_key)
    except (TypeError, ValueError):
        return False


class _Walk:
    """The state of one verification pass over the records, in order."""

    def __init__(self, trusted_keys: dict[str, Ed25519PublicKey]) -> None:
        self.trusted_keys = trusted_keys
        self.keys: dict[str, Ed25519PublicKey] = {}
        self.introductions: dict[str, tuple[bytes, int]] = {}
        self.active: str | None = None
        self.frontier = Frontier()
        self.last_leaf = GENESIS_PREV_HASH
        self.checkpoints = 0
        self.verified_size = 0
        self.at_trusted: tuple[bytes, str | None] | None = None

    def run(self, reader: Reader, dialect: str, trusted: Checkpoint | None) -> None:
        pending = deque(Checkpoint(*row) for row in reader.execute(f"{SELECT_CHECKPOINTS} ORDER BY tree_size"))
        source = node_source(reader)
        if trusted is not None and trusted.tree_size == 0:
            self.at_trusted = (EMPTY_ROOT, None)
        for row in reader.execute(f"{SELECT_RECORDS} ORDER BY seq"):
            self.record(source, row)
            while pending and pending[0].tree_size == self.frontier.size:
                self.checkpoint(pending.popleft())
            if trusted is not None and trusted.tree_size == self.frontier.size:
                self.at_trusted = (self.frontier.root(), self.active)
        size = self.frontier.size
        if pending:
            stray = pending[0].tree_size
            if stray < 1:
                _fail(f"a checkpoint claims the impossible tree size {stray}", checkpoint=stray)
            _fail(f"a checkpoint covers {stray} records but the log ends at record {size}: "
                  f"records {size + 1}..{stray} were removed", seq=size + 1, checkpoint=stray)
        self.key_table(reader)
        expected_nodes = size - bin(size).count("1")
        stored_nodes = reader.execute("SELECT COUNT(*) FROM audit_tree_nodes").fetchone()[0]
        if stored_nodes != expected_nodes:
            _fail(f"audit_tree_nodes holds {stored_nodes} nodes where {size} records make {expected_nodes}: "
                  "nodes were added outside the log")
        if dialect == "sqlite":
            self.triggers(reader)
        if trusted is not None:
            self.trusted(trusted)

    def record(self, source: NodeSource, row: Sequence[object]) -> None:
        expected = self.frontier.size + 1
        seq = row[0]
        if seq != expected:
            if isinstance(seq, int) and seq > expected:
                _fail(f"record {expected} is missing (the next stored record is {seq}): records were deleted",
                      seq=expected)
            _fail(f"a record is stored under the invalid seq {seq!r}", seq=expected)
        try:
            record = record_from_row(row)
        except InvalidEntry as err:
            _fail(f"record {seq} has a malformed field: {err}", seq=expected)
        if record.recomputed_leaf_hash() != record.leaf_hash:
            _fail(f"record {seq} does not match its stored leaf hash: its contents or its hash were altered",
                  seq=expected)
        if record.prev_hash != self.last_leaf:
            _fail(f"record {seq}'s prev_hash is not the leaf hash of record {seq - 1}: the hash chain is broken "
                  "(records were removed, reordered or replaced)", seq=expected)
        if record.entry.corrects_seq is not None and record.entry.corrects_seq >= expected:
            _fail(f"record {seq} claims to correct record {record.entry.corrects_seq}, which is not earlier",
                  seq=expected)
        self.last_leaf = record.leaf_hash
        self.frontier, nodes = self.frontier.append(record.leaf_hash)
        for node in nodes:
            try:
                stored: bytes | None = source(node.level, node.index)
            except LogIntegrityError:
                stored = None
            if stored != node.hash:
                first, last = (node.index << node.level) + 1, (node.index + 1) << node.level
                _fail(f"the stored Merkle node (level {node.level}, index {node.index}) is missing or does not "
                      f"match records {first}..{last}: one of them, or the node, was altered", seq=first)
        if record.entry.method == KEY_METHOD:
            self.introduce(record)
        elif expected == 1:
            _fail("record 1 does not introduce the log's signing key", seq=1)

    def introduce(self, record: AuditRecord) -> None:
        seq = record.seq
        try:
            introduction = KeyIntroduction.from_entry(record.entry)
        except InvalidEntry as err:
            _fail(f"record {seq}: {err}", seq=seq)
        new = introduction.key_id
        if new in self.keys:
            _fail(f"record {seq} introduces key {new} a second time", seq=seq)
        if introduction.previous_key_id is None:
            if new not in self.trusted_keys:
                _fail(f"record {seq} introduces signing key {new} without endorsement, and it is not among "
                      "the trusted public keys", seq=seq)
        elif introduction.previous_key_id != self.active:
            _fail(f"record {seq} introduces key {new} as the successor of {introduction.previous_key_id}, "
                  f"but the active key is {self.active}", seq=seq)
        elif self.active is None or introduction.endorsement is None or not endorsement_valid(
                self.keys[self.active], new, introduction.endorsement):
            _fail(f"record {seq}: the endorsement of key {new} by key {self.active} does not verify", seq=seq)
        self.keys[new] = public_key_from_raw(introduction.public_key)
        self.introductions[new] = (introduction.public_key, seq)
        self.active = new

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        size = checkpoint.tree_size
        if checkpoint.key_id != self.active or self.active is None:
            _fail(f"the checkpoint at tree size {size} is signed by key {checkpoint.key_id}, but the log's "
                  f"active key there is {self.active}: forged", checkpoint=size)
        if not _signature_ok(checkpoint, self.keys[self.active]):
            _fail(f"the signature of the checkpoint at tree size {size} does not verify: the checkpoint was "
                  "forged or altered", checkpoint=size)
        if checkpoint.root_hash != self.frontier.root():
            _fail(f"records {self.verified_size + 1}..{size} do not give the signed root of the checkpoint at "
                  f"tree size {size}: a record in that range was altered and its hashes recomputed",
                  seq=self.verified_size + 1, checkpoint=size)
        self.verified_size = size
        self.checkpoints += 1

    def key_table(self, reader: Reader) -> None:
        stored = {row[0]: (row[1], row[2]) for row in
                  reader.execute("SELECT key_id, public_key, introduced_seq FROM audit_keys")}
        for key, introduced in sorted(self.introductions.items(), key=lambda item: item[1][1]):
            if stored.pop(key, None) != introduced:
                _fail(f"audit_keys does not match the introduction of key {key} in record {introduced[1]}",
                      seq=introduced[1])
        if stored:
            _fail(f"audit_keys lists keys that no record introduces: {', '.join(sorted(stored))}")

    @staticmethod
    def triggers(reader: Reader) -> None:
        stored = dict(reader.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
        for name, sql in APPEND_ONLY_TRIGGERS.items():
            if stored.get(name) != sql:
                _fail(f"the append-only trigger {name} is missing or was replaced: "
                      "the store was modified outside the service")

    def trusted(self, checkpoint: Checkpoint) -> None:
        """The outside checkpoint: signed by the key active at its size (or, past the log's end, by the
        last key or a later one the verifier trusts), and covering records the log still holds unchanged."""
        size, held, signer = checkpoint.tree_size, self.frontier.size, checkpoint.key_id
        expected = self.at_trusted[1] if self.at_trusted is not None else self.active
        if signer == expected and expected is not None:
            public_key = self.keys[expected]
        elif size > held and signer in self.trusted_keys:
            public_key = self.trusted_keys[signer]
        else:
            _fail(f"the trusted checkpoint is signed by key {signer}, but the key active at tree size {size} is "
                  f"{expected}: rejected as forged", checkpoint=size)
        if not _signature_ok(checkpoint, public_key):
            _fail("the trusted checkpoint's signature does not verify: rejected as forged or altered",
                  checkpoint=size)
        if size > held:
            _fail(f"the log has shrunk: the trusted checkpoint covers {size} records but the log holds {held}; "
                  f"records {held + 1}..{size} are gone (truncated, or an older copy was restored)",
                  seq=held + 1, checkpoint=size)
        if self.at_trusted is None or self.at_trusted[0] != checkpoint.root_hash:
            _fail(f"the log has forked: records 1..{size} do not give the trusted checkpoint's root, "
                  "so they are not the records it was signed over", checkpoint=size)

    def report(self, failure: _Failure | None) -> VerificationReport:
        summary = (self.frontier.size, self.checkpoints, self.frontier.root(), self.verified_size)
        if failure is None:
            return VerificationReport(True, *summary)
        return VerificationReport(False, *summary, failure.seq, failure.checkpoint, failure.problem)


def _verify_storage(storage: Storage, trusted_checkpoint: Checkpoint | None,
                    trusted_keys: dict[str, Ed25519PublicKey]) -> VerificationReport:
    walk = _Walk(trusted_keys)
    try:
        version = storage.schema_version(COMPONENT)
        if version != len(MIGRATIONS):
            _fail("the store holds no audit log" if version == 0 else
                  f"the audit schema is at version {version}; this verifier knows version {len(MIGRATIONS)}")
        with storage.reader() as reader:
            walk.run(reader, storage.dialect, trusted_checkpoint)
    except _Failure as failure:
        return walk.report(failure)
    except Exception as err:  # adversarial content (e.g. a table rebuilt with other types) must not crash it
        return walk.report(_Failure(f"the store cannot be read as an audit log: {type(err).__name__}: {err}"))
    return walk.report(None)


def verify_log(source: Storage | str | os.PathLike[str], trusted_checkpoint: Checkpoint | None = None, *,
               public_keys: Iterable[Ed25519PublicKey]) -> VerificationReport:
    """Verify the audit log in ``source`` (a store, or the path of a SQLite copy, opened read-only).

    ``public_keys`` are the keys trusted outright (at least the log's first
    key); keys the log rotated to are trusted through their endorsements.
    The whole pass reads one snapshot. Opening a path read-only never writes
    the database file, though SQLite may create its ``-wal``/``-shm`` files.
    """
    trusted_keys = {key_id(key): key for key in public_keys}
    if not isinstance(source, (str, os.PathLike)):
        return _verify_storage(source, trusted_checkpoint, trusted_keys)
    try:
        database = Database(Path(source), read_only=True)
    except StorageError as err:
        return VerificationReport(False, 0, 0, EMPTY_ROOT, problem=f"the store cannot be opened: {err}")
    with database:
        return _verify_storage(database, trusted_checkpoint, trusted_keys)


def check_checkpoint_update(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes], *,
                            public_keys: Iterable[Ed25519PublicKey]) -> None:
    """Accept ``new`` as a successor of the trusted ``old`` checkpoint, or raise :class:`CheckpointRejected`.

    For a monitor holding ``old``: both must be signed by trusted keys, the
    log must not have shrunk, and ``proof`` (from
    :meth:`~.log.AuditLog.consistency_proof`) must show ``new`` extends ``old``
    (RFC 9162 §2.1.4.2), i.e. no record up to ``old.tree_size`` was changed.
    """
    keys = {key_id(key): key for key in public_keys}
    for label, checkpoint in (("old", old), ("new", new)):
        public_key = keys.get(checkpoint.key_id)
        if public_key is None or not _signature_ok(checkpoint, public_key):
            raise CheckpointRejected(f"the {label} checkpoint (tree size {checkpoint.tree_size}) is not signed "
                                     "by a trusted key: forged or altered")
    if new.tree_size < old.tree_size:
        raise CheckpointRejected(f"the new checkpoint covers {new.tree_size} records, fewer than the "
                                 f"{old.tree_size} already trusted: the log shrank")
    if not verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof):
        raise CheckpointRejected(f"the consistency proof from {old.tree_size} to {new.tree_size} records fails: "
                                 "the new checkpoint does not extend the old one (a fork)")
