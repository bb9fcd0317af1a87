"""Audit entries: validation, and the canonical bytes the hashes cover."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from dosefinding_server.audit.canonical import parse_utc_timestamp, record_bytes, utc_timestamp
from dosefinding_server.audit.errors import InvalidEntry
from dosefinding_server.audit.merkle import leaf_hash
from dosefinding_server.audit.records import GENESIS_PREV_HASH, AuditEntry, AuditRecord

from .support import START, entry


def test_canonical_bytes_are_rfc8785_of_every_field() -> None:
    sample = entry(0, seed=(1 << 64) - 1, reason=None)
    data = record_bytes(7, "2025-03-01T09:00:01.000000Z", sample, GENESIS_PREV_HASH)
    document = json.loads(data)
    assert data == rfc8785.dumps(document)
    assert document == {
        "format": "dosefinding.audit.record.v1", "seq": 7, "recorded_at": "2025-03-01T09:00:01.000000Z",
        "principal": "investigator-0@site.example", "method": "/dosefinding.v1.DecisionService/EvaluateDesign",
        "trial_id": "TRIAL-0", "request": "eyJvdXRjb21lcyI6eyJvdXRjb21lX3N0cmluZyI6IjFOTk4gMk4ifX0=",
        "response": "eyJyZWNvbW1lbmRlZF9kb3NlIjoxLCJjb250aW51ZSI6dHJ1ZX0=", "design_sha256": "0" * 64,
        "engine_version": "0.1.0", "seed": "18446744073709551615", "reason": None, "corrects_seq": None,
        "status": "OK", "prev_hash": "00" * 32}


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)


@given(principal=_TEXT, method=_TEXT, reason=st.none() | _TEXT, trial_id=st.none() | _TEXT,
       request=st.binary(), seq=st.integers(2, (1 << 53) - 1), seed=st.none() | st.integers(0, (1 << 64) - 1))
def test_the_record_encoder_is_rfc8785_for_every_record(principal: str, method: str, reason: str | None,
                                                        trial_id: str | None, request: bytes, seq: int,
                                                        seed: int | None) -> None:
    """The standard library's encoder gives RFC 8785's bytes for any record, whatever text it holds."""
    sample = AuditEntry(principal=principal, method=method, request=request, response=b"", engine_version="1",
                        trial_id=trial_id, seed=seed, reason=reason, corrects_seq=1 if reason else None)
    data = record_bytes(seq, "2025-03-01T09:00:01.000000Z", sample, GENESIS_PREV_HASH)
    assert data == rfc8785.dumps(json.loads(data))


def test_sealed_leaf_covers_seq_and_prev_hash() -> None:
    record = AuditRecord.seal(3, utc_timestamp(START), entry(1), bytes(32))
    assert record.leaf_hash == leaf_hash(record_bytes(3, record.recorded_at, entry(1), bytes(32)))
    assert record.recomputed_leaf_hash() == record.leaf_hash
    assert AuditRecord.seal(4, record.recorded_at, entry(1), bytes(32)).leaf_hash != record.leaf_hash
    assert AuditRecord.seal(3, record.recorded_at, entry(1), b"\x01" * 32).leaf_hash != record.leaf_hash


@pytest.mark.parametrize("overrides, words", [
    ({"principal": ""}, "principal"),
    ({"method": None}, "method"),
    ({"request": "text"}, "request must be bytes"),
    ({"design_sha256": "ABC"}, "design_sha256"),
    ({"seed": -1}, "seed"),
    ({"seed": 1 << 64}, "seed"),
    ({"seed": True}, "seed"),
    ({"trial_id": "\ud800"}, "Unicode"),
    ({"corrects_seq": 3}, "reason"),
    ({"corrects_seq": 0, "reason": "typo"}, "corrects_seq"),
])
def test_malformed_entries_are_refused(overrides: dict, words: str) -> None:
    with pytest.raises(InvalidEntry, match=words):
        entry(0, **overrides)


def test_a_correction_must_name_an_earlier_record() -> None:
    correction = entry(0, corrects_seq=5, reason="wrong cohort entered")
    assert AuditRecord.seal(6, utc_timestamp(START), correction, bytes(32)).entry.corrects_seq == 5
    with pytest.raises(InvalidEntry, match="earlier"):
        AuditRecord.seal(5, utc_timestamp(START), correction, bytes(32))


def test_timestamps_are_canonical_utc() -> None:
    assert utc_timestamp(START) == "2025-03-01T09:00:00.000000Z"
    assert parse_utc_timestamp("2025-03-01T09:00:00.000000Z") == START
    for text in ("2025-03-01T09:00:00Z", "2025-03-01 09:00:00.000000Z", "2025-03-01T09:00:00.000000+00:00"):
        with pytest.raises(ValueError):
            parse_utc_timestamp(text)
    with pytest.raises(ValueError):
        utc_timestamp(START.replace(tzinfo=None))


def test_entry_is_immutable() -> None:
    sample: AuditEntry = entry(0)
    with pytest.raises(AttributeError):
        sample.status = "CHANGED"  # type: ignore[misc]
