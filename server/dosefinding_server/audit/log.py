"""The append-only audit log: hash-chained records, an RFC 9162 Merkle tree, signed checkpoints.

Every call that decides or changes something is appended as a record inside
the same transaction as the trial writes it caused, and the reply is sent
only after that transaction is durable (21 CFR Part 11 §11.10(e): secure,
computer-generated, time-stamped audit trails recording who did what and
when, kept without gaps). Each record's leaf hash covers the canonical bytes
of all its fields including ``seq`` and ``prev_hash`` (the previous record's
leaf hash), so the records form a hash chain and are the leaves of one
Merkle tree; every ``checkpoint_every`` records, ``checkpoint_seconds`` after
the last checkpoint if records were added since, and on :meth:`AuditLog.close`,
the log signs a checkpoint of the tree with its Ed25519 key.

Each writer keeps its position (size, last leaf, Merkle frontier, active
key) in memory and changes it only inside write transactions, with rollback
hooks that put it back if the transaction does not commit. A server has one
writer; a multi-process server has an audit writer process that appends for
all of them (:mod:`.writer`). Should another writer append to the same file,
the store serialises write transactions (``BEGIN IMMEDIATE``) and every write
transaction first catches up with what it committed (one indexed read).
"""

from __future__ import annotations

import time
from dataclasses import astuple, dataclass, replace
from datetime import datetime, timezone
from typing import Callable

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..storage import Storage, Transaction
from . import crashpoints
from .canonical import utc_timestamp
from .errors import AuditError, AuditLogClosed, InvalidEntry, LogIntegrityError
from .group_commit import GroupCommitter, Receipt, Writes
from .keys import KEY_METHOD, KeyIntroduction
from .merkle import Frontier
from .records import GENESIS_PREV_HASH, AuditEntry, AuditRecord
from .schema import (COMPONENT, INSERT_CHECKPOINT, INSERT_RECORD, MIGRATIONS, SELECT_SIZE, latest_checkpoint,
                     node_source, record_row)
from .signing import Checkpoint, key_id, sign_checkpoint
from .trail import AuditTrail

Clock = Callable[[], datetime]

DEFAULT_CHECKPOINT_EVERY = 100
DEFAULT_CHECKPOINT_SECONDS = 60.0
DEFAULT_MAX_BATCH = 256

logger = structlog.get_logger("dosefinding.audit")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _Position:
    size: int
    last_leaf: bytes
    frontier: Frontier
    checkpoint_size: int
    key: Ed25519PrivateKey
    key_id: str


class AuditLog(AuditTrail):
    """The audit log over a :class:`~dosefinding_server.storage.Storage`.

    Creating it on a store without a log starts one whose first record
    introduces ``signing_key``; on an existing log, ``signing_key`` must be
    the active key (see :meth:`rotate_key`). Prefer
    :func:`~dosefinding_server.audit.startup.open_audit_log`, which verifies
    the log first.
    """

    def __init__(self, storage: Storage, signing_key: Ed25519PrivateKey, *,
                 checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                 checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS, max_batch: int = DEFAULT_MAX_BATCH,
                 clock: Clock = utc_now) -> None:
        if checkpoint_every < 1 or checkpoint_seconds <= 0:
            raise ValueError("checkpoint_every must be at least 1 and checkpoint_seconds positive")
        super().__init__(storage)
        self._checkpoint_every = checkpoint_every
        self._checkpoint_seconds = checkpoint_seconds
        self._last_signed = time.monotonic()
        self._clock = clock
        self._closed = False
        storage.migrate(COMPONENT, MIGRATIONS)
        with storage.transaction() as tx:
            self._position = self._load(tx, signing_key)
            if self._position.size == 0:
                self._introduce_key(tx, KeyIntroduction.create(signing_key.public_key(), None), signing_key)
        self._committer = GroupCommitter(storage, self._catch_up, self._append_with_checkpoint,
                                         lambda: self._position.size + 1, max_batch, self._sign_if_stale,
                                         checkpoint_seconds)

    @staticmethod
    def _load(tx: Transaction, signing_key: Ed25519PrivateKey) -> _Position:
        last = tx.execute("SELECT seq, leaf_hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        size, last_leaf = last if last is not None else (0, GENESIS_PREV_HASH)
        checkpoint_size = tx.execute("SELECT COALESCE(MAX(tree_size), 0) FROM audit_checkpoints").fetchone()[0]
        active = tx.execute("SELECT key_id FROM audit_keys ORDER BY introduced_seq DESC LIMIT 1").fetchone()
        signer = key_id(signing_key.public_key())
        if size and (active is None or active[0] != signer):
            raise LogIntegrityError(f"the signing key {signer} is not the log's active key "
                                    f"{active[0] if active else '(none)'}; rotate keys with rotate_key()")
        return _Position(size, last_leaf, Frontier.load(size, node_source(tx)), checkpoint_size, signing_key, signer)

    def _catch_up(self, tx: Transaction) -> None:
        """Take the records, checkpoints and keys another writer committed since this one last wrote.

        A server has one writer (its audit writer process when it has several serving processes), so
        this is one read that finds nothing new; if another writer did append (a tool on the same file),
        the position is reloaded from the store, and a key it introduced is checked there.
        """
        position = self._position
        size, signed = tx.execute(f"SELECT ({SELECT_SIZE}), "
                                  "(SELECT COALESCE(MAX(tree_size), 0) FROM audit_checkpoints)").fetchone()
        if size != position.size:
            self._position = self._load(tx, position.key)
        elif signed != position.checkpoint_size:
            self._position = replace(position, checkpoint_size=signed)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def key_id(self) -> str:
        """The id of the key that signs checkpoints now."""
        return self._position.key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half of the key that signs checkpoints now (a trust anchor for verification)."""
        return self._position.key.public_key()

    def _move(self, tx: Transaction, position: _Position) -> None:
        """Take the in-memory ``position``, and go back if ``tx`` (or its savepoint) is undone."""
        previous = self._position
        self._position = position
        tx.on_rollback(lambda: setattr(self, "_position", previous))

    def _check_open(self) -> None:
        if self._closed:
            raise AuditLogClosed("the audit log is closed")

    def _append_record(self, tx: Transaction, entry: AuditEntry) -> AuditRecord:
        position = self._position
        record = AuditRecord.seal(position.size + 1, utc_timestamp(self._clock()), entry, position.last_leaf)
        tx.execute(INSERT_RECORD, record_row(record))
        frontier, nodes = position.frontier.append(record.leaf_hash)
        if nodes:
            tx.executemany("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)",
                           [(node.level, node.index, node.hash) for node in nodes])
        self._move(tx, replace(position, size=record.seq, last_leaf=record.leaf_hash, frontier=frontier))
        return record

    def _append_with_checkpoint(self, tx: Transaction, entry: AuditEntry) -> AuditRecord:
        if entry.method == KEY_METHOD:
            raise InvalidEntry(f"{KEY_METHOD} records are written only by the audit log itself")
        record = self._append_record(tx, entry)
        if record.seq - self._position.checkpoint_size >= self._checkpoint_every:
            self._write_checkpoint(tx)
        return record

    def _write_checkpoint(self, tx: Transaction) -> Checkpoint:
        position = self._position
        checkpoint = sign_checkpoint(position.key, position.size, position.frontier.root(),
                                     utc_timestamp(self._clock()))
        crashpoints.reached("signing_checkpoint")  # test hook, inert unless armed (see crashpoints)
        tx.execute(INSERT_CHECKPOINT, astuple(checkpoint))
        self._move(tx, replace(position, checkpoint_size=position.size))
        self._last_signed = time.monotonic()
        return checkpoint

    def _sign_unsigned(self, tx: Transaction) -> Checkpoint | None:
        """A checkpoint of the records after the latest one, if there are any."""
        if self._position.size > self._position.checkpoint_size:
            return self._write_checkpoint(tx)
        return None

    def _sign_if_stale(self) -> None:
        """Sign the unsigned records once the last checkpoint is ``checkpoint_seconds`` old (a leader runs it)."""
        position = self._position
        if position.size == position.checkpoint_size or \
                time.monotonic() - self._last_signed < self._checkpoint_seconds:
            return
        try:
            with self._storage.transaction() as tx:
                self._catch_up(tx)
                self._sign_unsigned(tx)
        except Exception as err:  # the next tick, a count checkpoint or close() tries again
            logger.warning("audit_checkpoint_failed", error=f"{type(err).__name__}: {err}")

    def _introduce_key(self, tx: Transaction, introduction: KeyIntroduction,
                       key: Ed25519PrivateKey) -> Checkpoint:
        """Record the key, make it the signer, and sign a checkpoint covering its introduction with it."""
        record = self._append_record(tx, introduction.entry())
        tx.execute("INSERT INTO audit_keys (key_id, public_key, introduced_seq) VALUES (?, ?, ?)",
                   (introduction.key_id, introduction.public_key, record.seq))
        self._move(tx, replace(self._position, key=key, key_id=introduction.key_id))
        return self._write_checkpoint(tx)

    def append(self, entry: AuditEntry, transaction: Transaction) -> int:
        """Append ``entry`` inside the caller's ``transaction`` and return its ``seq``.

        The record is durable when the caller's transaction commits (the
        store runs ``synchronous=FULL``); if it rolls back, so does the
        record and the log's position. One commit per call: for throughput
        under concurrency use :meth:`append_durable`.
        """
        self._check_open()
        self._catch_up(transaction)
        return self._append_with_checkpoint(transaction, entry).seq

    def append_durable(self, entry: AuditEntry, writes: Writes = ()) -> Receipt:
        """Append ``entry`` with the next group commit; returns only once the record is durable.

        ``writes`` are inserted first in the same transaction, their
        :data:`~.group_commit.AUDIT_SEQUENCE` parameters bound to the record's
        sequence number (e.g. the trial event linked to it); if one is
        refused, neither they nor the record are kept and this raises the
        refusal.
        """
        self._check_open()
        if self._storage.in_transaction():
            raise AuditError("append_durable() inside an open transaction would wait for itself forever; "
                             "use append(entry, transaction)")
        return self._committer.commit(entry, writes)

    def checkpoint(self) -> Checkpoint:
        """Sign a checkpoint of everything appended so far (unless the latest already covers it)."""
        self._check_open()
        with self._storage.transaction() as tx:
            self._catch_up(tx)
            latest = self._sign_unsigned(tx) or latest_checkpoint(tx)
        if latest is None:
            raise LogIntegrityError("the log has no checkpoint, not even its first key's")
        return latest

    def rotate_key(self, new_key: Ed25519PrivateKey) -> Checkpoint:
        """Hand signing over to ``new_key``, recorded in the log and endorsed by the current key.

        The current key first signs a checkpoint of everything before the
        rotation, then the rotation record is appended and the new key signs
        a checkpoint covering it. Returns that checkpoint.
        """
        self._check_open()
        if key_id(new_key.public_key()) == self._position.key_id:
            raise ValueError("the new key is the active key")
        with self._storage.transaction() as tx:
            self._catch_up(tx)
            self._sign_unsigned(tx)
            return self._introduce_key(tx, KeyIntroduction.create(new_key.public_key(), self._position.key),
                                       new_key)

    def close(self) -> None:
        """Commit what is queued, sign a final checkpoint, and refuse further appends."""
        if self._closed:
            return
        self._closed = True
        self._committer.close()
        with self._storage.transaction() as tx:
            self._catch_up(tx)
            self._sign_unsigned(tx)
