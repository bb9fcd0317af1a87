"""ReplayDecisions over a log made by every DecisionService method and whole trial lifecycles."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest

from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding_client import DoseFindingClient, ServiceError
from dosefinding_server.api.payloads import message_bytes, parsed
from dosefinding_server.api.replay import Replayer
from dosefinding_server.api.trial_service import TrialService
from dosefinding_server.trials.store import TrialStore

from .support import DECISIONS, TRIALS, decision_requests, export_jsonl

#: Trial calls whose answer holds a decision (creating and closing a trial decide nothing).
TRIAL_DECISIONS = {TRIALS + m for m in ("GetDecision", "RecordOutcomes", "CorrectOutcome")}


def replay(client: DoseFindingClient, **fields: object) -> apb.ReplayDecisionsResponse:
    return client.call(client.audit.ReplayDecisions, apb.ReplayDecisionsRequest(**fields))


def test_every_logged_decision_is_re_derived_identically(auditor, workload):
    records = export_jsonl(auditor)
    decisions = [r for r in records if r["status"] == "OK" and (r["method"] in decision_requests()
                                                                 or r["method"] in TRIAL_DECISIONS)]
    report = replay(auditor, last_sequence=len(records))
    assert list(report.differences) == []
    assert report.replayed == len(decisions), "every decision in the log is replayed: 100%"
    assert report.replayed + report.skipped == len(records)
    assert report.engine_version


def test_each_audited_decision_kind_is_replayed_record_by_record(auditor, workload):
    replayed: dict[str, int] = {}
    for record in export_jsonl(auditor)[:workload.size]:
        report = replay(auditor, first_sequence=record["seq"], last_sequence=record["seq"])
        assert list(report.differences) == [], record["seq"]
        assert report.replayed + report.skipped == 1
        if report.replayed:
            replayed[record["method"]] = replayed.get(record["method"], 0) + 1
        else:
            assert record["status"] != "OK" or record["method"] not in set(decision_requests()) | TRIAL_DECISIONS
    assert set(replayed) == set(decision_requests()) | TRIAL_DECISIONS
    assert all(count > 0 for count in replayed.values())


def test_a_trials_replay_covers_its_decisions_only(auditor, workload):
    for trial_id in workload.trial_ids:
        report = replay(auditor, trial_id=trial_id)
        assert list(report.differences) == []
        assert (report.replayed, report.skipped) == (6, 2)


def test_a_trial_no_record_names_is_not_found(auditor, workload):
    with pytest.raises(ServiceError) as caught:
        replay(auditor, trial_id="trial-mistyped")
    assert (caught.value.code, caught.value.message) == (grpc.StatusCode.NOT_FOUND,
                                                         "no audit record names trial 'trial-mistyped'")


def test_a_range_that_ends_before_it_starts_is_refused(auditor, workload):
    with pytest.raises(ServiceError) as caught:
        replay(auditor, first_sequence=5, last_sequence=2)
    assert [(v.field, v.description) for v in caught.value.violations] == [
        ("last_sequence", "2 is before first_sequence 5")]


def test_a_logged_answer_the_engine_does_not_give_is_reported(auditor, workload, audit_server):
    """Replay is not vacuous: an answer altered after the fact is found, for a stateless call and a trial call."""
    replayer = Replayer(TrialService(TrialStore(audit_server.database)))
    records = export_jsonl(auditor)[:workload.size]
    for method, path in ((DECISIONS + "EvaluateDesign", ("decision", "recommended_dose")),
                         (TRIALS + "RecordOutcomes", ("decision", "recommended_dose"))):
        seq = next(r["seq"] for r in records if r["method"] == method and r["status"] == "OK")
        record = audit_server.audit.record(seq)
        assert replayer.replay_one(record) == ""
        answer = parsed(record, "response")
        setattr(getattr(answer, path[0]), path[1], getattr(getattr(answer, path[0]), path[1]) + 1)
        forged = replace(record, entry=replace(record.entry, response=message_bytes(answer)))
        difference = replayer.replay_one(forged)
        assert difference and "recommended_dose" in difference
