"""The trial store: append-only tables of trials, their events and idempotency records.

An idempotency record keeps a write's key, the digest of its request and the number of its audit record;
the answer a retry gets is that record's response (stored once, in the audit log).

Rows are only ever inserted (SQLite triggers abort any UPDATE or DELETE);
the store builds them as :class:`~dosefinding_server.audit.group_commit.Insert`
rows that the audit log inserts in its own transactions, so an event and the
audit record of the call that made it are durable together or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from ..audit.group_commit import AUDIT_SEQUENCE, Insert
from ..storage import Migration, Storage
from .model import Event

COMPONENT = "trials"
_TABLES = ("trials", "trial_events", "idempotency")
_SECRETS_SCHEMA = """
CREATE TABLE trial_secrets (
    trial_id         TEXT PRIMARY KEY REFERENCES trials(trial_id),
    allocation_seed  TEXT NOT NULL
);
CREATE TRIGGER trial_secrets_no_update BEFORE UPDATE ON trial_secrets
BEGIN SELECT RAISE(ABORT, 'trial_secrets is append-only'); END;
CREATE TRIGGER trial_secrets_no_delete BEFORE DELETE ON trial_secrets
BEGIN SELECT RAISE(ABORT, 'trial_secrets is append-only'); END;
"""

_SCHEMA = """
CREATE TABLE trials (
    trial_id     TEXT PRIMARY KEY,
    protocol_id  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE TABLE trial_events (
    trial_id        TEXT NOT NULL REFERENCES trials(trial_id),
    version         INTEGER NOT NULL CHECK (version >= 1),
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    author          TEXT NOT NULL,
    audit_sequence  INTEGER NOT NULL,
    PRIMARY KEY (trial_id, version)
);
CREATE TABLE idempotency (
    principal       TEXT NOT NULL,
    method          TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    response        BLOB NOT NULL,
    audit_sequence  INTEGER NOT NULL,
    PRIMARY KEY (principal, method, key)
);
""" + "".join(
    f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
""" for table in _TABLES)


@dataclass(frozen=True)
class IdempotentResult:
    """What a write with this idempotency key answered the first time."""

    request_sha256: str
    response: bytes
    audit_sequence: int
    audit_leaf_hash: bytes


def _event(trial_id: str, row: Sequence[Any]) -> Event:
    """An event from its stored columns: version, kind, payload, recorded_at, author, audit_sequence."""
    version, kind, payload, recorded_at, author, audit_sequence = row
    return Event(trial_id, version, kind, json.loads(payload), recorded_at, author, audit_sequence)


class TrialStore:
    """Reads and (transactional) writes of trials."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        storage.migrate(COMPONENT, [Migration(1, _SCHEMA),
                                    Migration(2, _SECRETS_SCHEMA, "concealed allocation seeds"),
                                    Migration(3, "ALTER TABLE idempotency DROP COLUMN response;",
                                              "a retried write's answer is read from its audit record")])

    def events(self, trial_id: str, after: int = 0) -> list[Event]:
        """The trial's events in version order (those after version ``after``)."""
        rows = self.storage.query(
            "SELECT version, kind, payload, recorded_at, author, audit_sequence FROM trial_events "
            "WHERE trial_id = ? AND version > ? ORDER BY version", (trial_id, after))
        return [_event(trial_id, row) for row in rows]

    def tail(self, trial_id: str, after: int) -> tuple[int, list[Event]]:
        """The trial's committed version and its events after version ``after``, from one snapshot
        (one statement: the version heads the events)."""
        rows = self.storage.query(
            "SELECT 0, COALESCE(MAX(version), 0), NULL, NULL, NULL, NULL, NULL FROM trial_events WHERE trial_id = ?1 "
            "UNION ALL SELECT 1, version, kind, payload, recorded_at, author, audit_sequence FROM trial_events "
            "WHERE trial_id = ?1 AND version > ?2 ORDER BY 1, 2", (trial_id, after))
        return rows[0][1], [_event(trial_id, row[1:]) for row in rows[1:]]

    def trial_ids(self, limit: int, after: str | None) -> list[str]:
        """Trial ids, newest first; ``after`` continues from a previous page."""
        if after is None:
            rows = self.storage.query(
                "SELECT trial_id FROM trials ORDER BY created_at DESC, trial_id DESC LIMIT ?", (limit,))
        else:
            rows = self.storage.query(
                "SELECT t.trial_id FROM trials t, trials a WHERE a.trial_id = ? AND "
                "(t.created_at < a.created_at OR (t.created_at = a.created_at AND t.trial_id < a.trial_id)) "
                "ORDER BY t.created_at DESC, t.trial_id DESC LIMIT ?", (after, limit))
        return [r[0] for r in rows]

    def has_trial(self, trial_id: str) -> bool:
        return bool(self.storage.query("SELECT 1 FROM trials WHERE trial_id = ?", (trial_id,)))

    def idempotent_result(self, principal: str, method: str, key: str) -> IdempotentResult | None:
        rows = self.storage.query(
            "SELECT i.request_sha256, a.response, i.audit_sequence, a.leaf_hash FROM idempotency i "
            "JOIN audit_records a ON a.seq = i.audit_sequence "
            "WHERE i.principal = ? AND i.method = ? AND i.key = ?", (principal, method, key))
        return IdempotentResult(rows[0][0], bytes(rows[0][1]), rows[0][2], bytes(rows[0][3])) if rows else None

    @staticmethod
    def trial_row(trial_id: str, protocol_id: str, created_at: str) -> Insert:
        return Insert("INSERT INTO trials (trial_id, protocol_id, created_at) VALUES (?, ?, ?)",
                      (trial_id, protocol_id, created_at))

    @staticmethod
    def event_row(trial_id: str, version: int, kind: str, payload: dict[str, Any], recorded_at: str,
                  author: str) -> Insert:
        """One event, linked to the audit record it is committed with."""
        return Insert(
            "INSERT INTO trial_events (trial_id, version, kind, payload, recorded_at, author, audit_sequence) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (trial_id, version, kind, json.dumps(payload, sort_keys=True, separators=(",", ":")),
             recorded_at, author, AUDIT_SEQUENCE))

    def allocation_seed(self, trial_id: str) -> int:
        """The trial's secret allocation seed; read by the service only, never returned by a call."""
        rows = self.storage.query("SELECT allocation_seed FROM trial_secrets WHERE trial_id = ?", (trial_id,))
        return int(rows[0][0])

    @staticmethod
    def secret_row(trial_id: str, seed: int) -> Insert:
        return Insert("INSERT INTO trial_secrets (trial_id, allocation_seed) VALUES (?, ?)", (trial_id, str(seed)))

    @staticmethod
    def idempotent_row(principal: str, method: str, key: str, request_sha256: str) -> Insert:
        """A write's key and request, linked to the audit record (with its answer) it is committed with."""
        return Insert(
            "INSERT INTO idempotency (principal, method, key, request_sha256, audit_sequence) VALUES (?, ?, ?, ?, ?)",
            (principal, method, key, request_sha256, AUDIT_SEQUENCE))
