"""Canonical bytes of an audit record, and the canonical timestamp.

The hash chain and the Merkle leaves are computed over bytes, so every
record must have exactly one byte form, reproducible by anyone, in any
language, years later. We use RFC 8785 (JSON Canonicalization Scheme, via the
``rfc8785`` package) because it is a published standard with independent
implementations, it needs no schema compiler, it is the same scheme the
service already uses for ``design_sha256``, and JSON stays readable to a
reviewer. The record is one JSON object holding every field, including
``seq`` and ``prev_hash`` (so the chain and the tree cover position and
predecessor), and a ``format`` tag so a future layout can never be confused
with this one. Within that object:

* ``request`` and ``response`` (opaque bytes) are standard base64 (RFC 4648 §4);
* hashes are lowercase hex;
* ``seed`` is a decimal string: it is a uint64 and RFC 8785 numbers are
  IEEE 754 doubles, exact only up to 2**53 (RFC 7493 §2.2);
* absent optional fields are ``null``, never omitted, so the field set is fixed.

A record holds only strings, integers below 2**53 and ``null``, and for such
values RFC 8785 coincides with the standard library's JSON encoder run with
sorted keys, no whitespace and no ASCII escaping: keys are ASCII (so UTF-16
and code-point order agree), integers print the same, and both escape
exactly ``"``, ``\\`` and the C0 controls, with the same short forms and
lowercase ``\\u00xx``. :func:`record_bytes` uses that C encoder (a record is
encoded before every reply); a property test holds it to ``rfc8785``.

Timestamps are UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed
width, so they also sort and compare as strings.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import rfc8785

if TYPE_CHECKING:
    from .records import AuditEntry

RECORD_FORMAT = "dosefinding.audit.record.v1"
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIMESTAMP_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 JSON of ``value``."""
    return rfc8785.dumps(value)


def utc_timestamp(moment: datetime) -> str:
    """``moment`` (timezone-aware) as the canonical UTC timestamp."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def parse_utc_timestamp(text: str) -> datetime:
    """The inverse of :func:`utc_timestamp`; rejects any other form."""
    if not _TIMESTAMP_PATTERN.fullmatch(text):
        raise ValueError(f"{text!r} is not a canonical UTC timestamp")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def b64(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


_RECORD_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def record_fields(seq: int, recorded_at: str, entry: AuditEntry, prev_hash: bytes) -> dict[str, Any]:
    """The fields of the record ``entry`` stored at ``seq`` after the leaf ``prev_hash``, as JSON values."""
    return {
        "format": RECORD_FORMAT,
        "seq": seq,
        "recorded_at": recorded_at,
        "principal": entry.principal,
        "method": entry.method,
        "trial_id": entry.trial_id,
        "request": b64(entry.request),
        "response": b64(entry.response),
        "design_sha256": entry.design_sha256,
        "engine_version": entry.engine_version,
        "seed": None if entry.seed is None else str(entry.seed),
        "reason": entry.reason,
        "corrects_seq": entry.corrects_seq,
        "status": entry.status,
        "prev_hash": prev_hash.hex(),
    }


def record_bytes(seq: int, recorded_at: str, entry: AuditEntry, prev_hash: bytes) -> bytes:
    """The canonical (RFC 8785) bytes of the record ``entry`` stored at ``seq`` after the leaf ``prev_hash``."""
    return _RECORD_ENCODER.encode(record_fields(seq, recorded_at, entry, prev_hash)).encode("utf-8")
