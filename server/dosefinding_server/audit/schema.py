"""The audit tables (SQLite DDL), the mapping between rows and records, and the shared reads.

Every audit table is append-only twice over: the code has no UPDATE or
DELETE path, and a trigger aborts any UPDATE or DELETE that anyone else
attempts through SQL (21 CFR Part 11 §11.10(e): record changes must not
obscure what was recorded). Triggers stop mistakes and casual edits, not an
attacker with the file; that is what the hash chain, the Merkle tree and the
signed checkpoints are for.

``audit_tree_nodes`` keeps the hashes of the perfect Merkle subtrees (level
>= 1; level 0 is ``audit_records.leaf_hash``) so proofs take O(log n) reads.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ..storage import Migration, Reader
from .canonical import parse_utc_timestamp
from .errors import InvalidEntry, LogIntegrityError
from .merkle import HASH_SIZE, NodeSource
from .records import AuditEntry, AuditRecord
from .signing import Checkpoint

COMPONENT = "audit"

_DECIMAL = re.compile(r"0|[1-9][0-9]*")

APPEND_ONLY_TABLES = ("audit_records", "audit_keys", "audit_checkpoints", "audit_tree_nodes")

RECORD_COLUMNS = ("seq", "recorded_at", "principal", "method", "trial_id", "request", "response",
                  "design_sha256", "engine_version", "seed", "reason", "corrects_seq", "status",
                  "prev_hash", "leaf_hash")

SELECT_RECORDS = f"SELECT {', '.join(RECORD_COLUMNS)} FROM audit_records"
INSERT_RECORD = (f"INSERT INTO audit_records ({', '.join(RECORD_COLUMNS)}) "
                 f"VALUES ({', '.join('?' for _ in RECORD_COLUMNS)})")
#: how many records are committed (their largest sequence number; 0 for an empty log)
SELECT_SIZE = "SELECT COALESCE(MAX(seq), 0) FROM audit_records"
SELECT_CHECKPOINTS = "SELECT tree_size, root_hash, signed_at, key_id, signature FROM audit_checkpoints"
INSERT_CHECKPOINT = ("INSERT INTO audit_checkpoints (tree_size, root_hash, signed_at, key_id, signature) "
                     "VALUES (?, ?, ?, ?, ?)")


def _append_only(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
        for action in ("UPDATE", "DELETE"))


APPEND_ONLY_TRIGGERS = {statement.split()[2]: statement
                        for table in APPEND_ONLY_TABLES for statement in _append_only(table)}
"""Trigger name -> its exact DDL, for checking that no trigger was dropped or replaced."""

MIGRATIONS = (
    Migration(1, """
CREATE TABLE audit_records (
    seq            INTEGER PRIMARY KEY CHECK (seq >= 1),
    recorded_at    TEXT    NOT NULL,
    principal      TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    trial_id       TEXT,
    request        BLOB    NOT NULL,
    response       BLOB    NOT NULL,
    design_sha256  TEXT,
    engine_version TEXT    NOT NULL,
    seed           TEXT,
    reason         TEXT,
    corrects_seq   INTEGER REFERENCES audit_records (seq),
    status         TEXT    NOT NULL,
    prev_hash      BLOB    NOT NULL,
    leaf_hash      BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_records_by_trial ON audit_records (trial_id, seq);
CREATE INDEX audit_records_by_time ON audit_records (recorded_at);
CREATE TABLE audit_keys (
    key_id         TEXT    PRIMARY KEY,
    public_key     BLOB    NOT NULL,
    introduced_seq INTEGER NOT NULL UNIQUE REFERENCES audit_records (seq)
) STRICT;
CREATE TABLE audit_checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB    NOT NULL,
    signed_at TEXT    NOT NULL,
    key_id    TEXT    NOT NULL REFERENCES audit_keys (key_id),
    signature BLOB    NOT NULL
) STRICT;
CREATE TABLE audit_tree_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
""" + "".join(f"{statement};\n" for statement in APPEND_ONLY_TRIGGERS.values()),
              "audit records, keys, checkpoints and Merkle nodes; append-only"),
)


def record_row(record: AuditRecord) -> tuple[Any, ...]:
    """The row of ``record`` in :data:`RECORD_COLUMNS` order."""
    entry = record.entry
    return (record.seq, record.recorded_at, entry.principal, entry.method, entry.trial_id, entry.request,
            entry.response, entry.design_sha256, entry.engine_version,
            None if entry.seed is None else str(entry.seed), entry.reason, entry.corrects_seq, entry.status,
            record.prev_hash, record.leaf_hash)


def record_from_row(row: Sequence[Any]) -> AuditRecord:
    """The record stored in ``row``; raises :class:`~.errors.InvalidEntry` if a field is malformed."""
    (seq, recorded_at, principal, method, trial_id, request, response, design_sha256, engine_version,
     seed, reason, corrects_seq, status, prev_hash, leaf_hash) = row
    if seed is not None and not (isinstance(seed, str) and _DECIMAL.fullmatch(seed)):
        raise InvalidEntry("seed is not a decimal integer without leading zeros")
    for name, value in (("prev_hash", prev_hash), ("leaf_hash", leaf_hash)):
        if not (isinstance(value, bytes) and len(value) == HASH_SIZE):
            raise InvalidEntry(f"{name} is not a {HASH_SIZE}-byte hash")
    try:
        parse_utc_timestamp(recorded_at)
    except (TypeError, ValueError):
        raise InvalidEntry("recorded_at is not a canonical UTC timestamp") from None
    entry = AuditEntry(principal=principal, method=method, request=request, response=response,
                       engine_version=engine_version, status=status, trial_id=trial_id,
                       design_sha256=design_sha256, seed=None if seed is None else int(seed),
                       reason=reason, corrects_seq=corrects_seq)
    return AuditRecord(seq, recorded_at, entry, prev_hash, leaf_hash)


def node_source(reader: Reader) -> NodeSource:
    """Perfect subtree hashes from the store: leaves from ``audit_records``, the rest from ``audit_tree_nodes``.

    Raises :class:`~.errors.LogIntegrityError` for a node that is not stored.
    """
    def source(level: int, index: int) -> bytes:
        if level == 0:
            row = reader.execute("SELECT leaf_hash FROM audit_records WHERE seq = ?", (index + 1,)).fetchone()
        else:
            row = reader.execute("SELECT hash FROM audit_tree_nodes WHERE level = ? AND idx = ?",
                                 (level, index)).fetchone()
        if row is None:
            raise LogIntegrityError(f"the Merkle tree node at level {level}, index {index} is missing")
        return row[0]
    return source


def latest_checkpoint(reader: Reader) -> Checkpoint | None:
    row = reader.execute(f"{SELECT_CHECKPOINTS} ORDER BY tree_size DESC LIMIT 1").fetchone()
    return None if row is None else Checkpoint(*row)
