"""ExportRecords over gRPC: one trial's records, or a time window's, as JSON Lines and as CSV."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from dosefinding_server.audit.export import REVIEW_FIELDS

from .conftest import FORMULA_REASON
from .support import TRIALS, as_json, export_csv, export_jsonl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LIFECYCLE = ["CreateTrial", "GetDecision", "RecordOutcomes", "RecordOutcomes", "RecordOutcomes", "CorrectOutcome",
             "GetDecision", "CloseTrial"]


def timestamp(recorded_at: str, shift: timedelta = timedelta()) -> Timestamp:
    moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00")) + shift
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(timezone.utc))
    return stamp


def same_record(row: dict[str, str], record: dict[str, Any]) -> bool:
    """A CSV row shows the JSON Lines record: JSON text for bodies, empty for null, a quote before formulas."""
    for field in REVIEW_FIELDS:
        value = record[field]
        if field in ("request", "response"):
            if json.loads(row[field]) != value:
                return False
        elif value is None:
            if row[field] != "":
                return False
        elif row[field] != (("'" + value) if isinstance(value, str) and value.startswith(FORMULA_STARTS)
                            else str(value)):
            return False
    return True


def test_a_trials_export_is_exactly_its_lifecycle_in_both_formats(auditor, workload):
    everything = export_jsonl(auditor)
    for trial_id in workload.trial_ids:
        records = export_jsonl(auditor, trial_id=trial_id)
        assert [r["method"] for r in records] == [TRIALS + m for m in LIFECYCLE]
        assert records == [r for r in everything if r["trial_id"] == trial_id]
        assert all(r["status"] == "OK" and r["design_sha256"] for r in records)
        rows = export_csv(auditor, trial_id=trial_id)
        assert list(rows[0]) == list(REVIEW_FIELDS)
        assert len(rows) == len(records) and all(same_record(row, r) for row, r in zip(rows, records))


def test_a_formula_like_reason_is_defused_in_csv_and_exact_in_json_lines(auditor, workload):
    closed = export_jsonl(auditor, trial_id=workload.trial_ids[0])[-1]
    row = export_csv(auditor, trial_id=workload.trial_ids[0])[-1]
    assert closed["reason"] == FORMULA_REASON
    assert row["reason"] == "'" + FORMULA_REASON


def test_every_receipt_handed_out_points_at_the_request_that_was_sent(auditor, workload):
    by_seq = {r["seq"]: r for r in export_jsonl(auditor)}
    assert workload.receipts
    for seq, (method, request) in workload.receipts.items():
        assert by_seq[seq]["method"] == method
        assert by_seq[seq]["request"] == as_json(request)


def test_a_time_window_exports_exactly_the_records_recorded_in_it(auditor, workload):
    everything = export_jsonl(auditor)[:workload.size]
    start, end = everything[5]["recorded_at"], everything[workload.size - 5]["recorded_at"]
    expected = [r for r in export_jsonl(auditor) if start <= r["recorded_at"] < end]
    assert len(expected) >= workload.size - 10
    window = export_jsonl(auditor, start=timestamp(start), end=timestamp(end))
    assert window == expected
    rows = export_csv(auditor, start=timestamp(start), end=timestamp(end))
    assert [int(row["seq"]) for row in rows] == [r["seq"] for r in expected]
    assert all(same_record(row, r) for row, r in zip(rows, expected))
    one_trial = export_jsonl(auditor, trial_id=workload.trial_ids[1], start=timestamp(start), end=timestamp(end))
    assert one_trial == [r for r in expected if r["trial_id"] == workload.trial_ids[1]] and one_trial


def test_an_open_ended_window_and_an_empty_one(auditor, workload):
    everything = export_jsonl(auditor)
    since = everything[10]["recorded_at"]
    assert export_jsonl(auditor, start=timestamp(since)) == [r for r in everything if r["recorded_at"] >= since]
    assert export_jsonl(auditor, end=timestamp(since)) == [r for r in everything if r["recorded_at"] < since]
    before_the_log = timestamp(everything[0]["recorded_at"], -timedelta(days=1))
    assert export_jsonl(auditor, end=before_the_log) == []
    assert export_csv(auditor, end=before_the_log) == []


def test_a_window_that_ends_before_it_starts_is_refused(auditor, workload):
    first = export_jsonl(auditor)[0]["recorded_at"]
    with pytest.raises(grpc.RpcError) as caught:
        export_jsonl(auditor, start=timestamp(first, timedelta(hours=1)), end=timestamp(first))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "end: " in caught.value.details() and "is not after start" in caught.value.details()


def test_a_trial_no_record_names_is_not_found_and_a_known_one_in_an_empty_window_is_empty(auditor, workload):
    with pytest.raises(grpc.RpcError) as caught:
        export_jsonl(auditor, trial_id="trial-mistyped")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "no audit record names trial 'trial-mistyped'"
    first = export_jsonl(auditor)[0]["recorded_at"]
    assert export_jsonl(auditor, trial_id=workload.trial_ids[0], end=timestamp(first, -timedelta(days=1))) == []
