"""What an audit record holds: who asked, when, what, with which design, and what was answered.

An :class:`AuditEntry` is what the caller hands in; the log seals it into an
:class:`AuditRecord` by giving it a sequence number, the time, and its place
in the hash chain. Records are never changed: a correction is a new record
whose ``corrects_seq`` names the record it corrects and whose ``reason``
says why (21 CFR Part 11 §11.10(e): changes must not obscure previously
recorded information; ICH E6(R3) and ALCOA+ ask for the reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .canonical import record_bytes
from .errors import InvalidEntry
from .merkle import HASH_SIZE, leaf_hash

GENESIS_PREV_HASH = bytes(HASH_SIZE)
"""``prev_hash`` of record 1: there is no predecessor."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_UINT64_LIMIT = 1 << 64
_JSON_SAFE_LIMIT = 1 << 53  # RFC 8785 numbers are doubles, exact below 2**53


def _text(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise InvalidEntry(f"{name} must be a non-empty string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEntry(f"{name} is not valid Unicode text") from None


def _integer(name: str, value: object, low: int, high: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value < high:
        raise InvalidEntry(f"{name} must be an integer in [{low}, {high})")


@dataclass(frozen=True)
class AuditEntry:
    """One call that decided or changed something, as the caller reports it.

    ``request`` and ``response`` are the exact bytes exchanged (the gRPC
    layer passes the messages' canonical JSON, so exports can show them);
    ``status`` is the outcome, e.g. a gRPC status code name; ``seed`` is the
    uint64 seed of any randomised step, so the answer can be reproduced.
    """

    principal: str
    method: str
    request: bytes
    response: bytes
    engine_version: str
    status: str = "OK"
    trial_id: str | None = None
    design_sha256: str | None = None
    seed: int | None = None
    reason: str | None = None
    corrects_seq: int | None = None

    def __post_init__(self) -> None:
        for name in ("principal", "method", "engine_version", "status"):
            _text(name, getattr(self, name))
        _text("trial_id", self.trial_id, optional=True)
        _text("reason", self.reason, optional=True)
        for name in ("request", "response"):
            if not isinstance(getattr(self, name), bytes):
                raise InvalidEntry(f"{name} must be bytes")
        if self.design_sha256 is not None and not (
                isinstance(self.design_sha256, str) and _SHA256_HEX.fullmatch(self.design_sha256)):
            raise InvalidEntry("design_sha256 must be 64 lowercase hex digits")
        _integer("seed", self.seed, 0, _UINT64_LIMIT)
        _integer("corrects_seq", self.corrects_seq, 1, _JSON_SAFE_LIMIT)
        if self.corrects_seq is not None and self.reason is None:
            raise InvalidEntry("a correction (corrects_seq) must give its reason")


@dataclass(frozen=True)
class AuditRecord:
    """An entry sealed into the log at ``seq``; ``leaf_hash`` is its RFC 9162 leaf hash."""

    seq: int
    recorded_at: str
    entry: AuditEntry
    prev_hash: bytes
    leaf_hash: bytes

    @classmethod
    def seal(cls, seq: int, recorded_at: str, entry: AuditEntry, prev_hash: bytes) -> AuditRecord:
        """The record of ``entry`` at ``seq`` following the leaf ``prev_hash``."""
        if entry.corrects_seq is not None and entry.corrects_seq >= seq:
            raise InvalidEntry(f"corrects_seq {entry.corrects_seq} does not name an earlier record than {seq}")
        return cls(seq, recorded_at, entry, prev_hash,
                   leaf_hash(record_bytes(seq, recorded_at, entry, prev_hash)))

    def recomputed_leaf_hash(self) -> bytes:
        """The leaf hash of this record's fields as they are now, to compare with ``leaf_hash``."""
        return leaf_hash(record_bytes(self.seq, self.recorded_at, self.entry, self.prev_hash))
