"""The lifecycle of a trial end to end: create, record, decide, read the history, list, close."""

from __future__ import annotations

import grpc

from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient
from dosefinding_server.api.server import RunningServer
from dosefinding_server.config import Config
from dosefinding_server.security.authentication import INSECURE_PRINCIPAL

from .support import (LIFECYCLE, cohort, connect, create, decision_now, design, evaluate, key, record,
                      record_as_recommended, refused, running, same_decision)

COHORTS = ([False, False, False], [False, False, False], [True, False, False])


def test_the_whole_lifecycle(client: DoseFindingClient, server: RunningServer) -> None:
    created = create(client, protocol_id="LIFE-1", dose_labels=[f"{mg} mg" for mg in (10, 20, 40, 80, 160)],
                     metadata=[tpb.MetadataEntry(key="sponsor", value="ACME")])
    trial = created.trial
    stateless = evaluate(client, LIFECYCLE, "")
    assert trial.design_sha256 == stateless.design_sha256 and len(trial.design_sha256) == 64
    assert trial.design == design(LIFECYCLE)
    assert (trial.version, trial.status, trial.num_patients) == (1, tpb.TRIAL_STATUS_OPEN, 0)
    assert trial.created_by == INSECURE_PRINCIPAL.name and list(trial.dose_labels)[0] == "10 mg"
    assert created.audit.sequence > 0 and len(created.audit.leaf_hash) == 32 and not created.replayed

    sequences = [created.audit.sequence]
    doses = []
    for number, toxicities in enumerate(COHORTS, start=1):
        recommended = decision_now(client, trial.trial_id).decision.recommended_dose
        answer = record_as_recommended(client, trial, cohort(f"c{number}", toxicities))
        assert answer.trial.version == trial.version + 1 and answer.trial.num_patients == 3 * number
        assert not answer.replayed and answer.audit.sequence > sequences[-1]
        doses.append(recommended)
        sequences.append(answer.audit.sequence)
        trial = answer.trial
    assert doses == [1, 2, 3], "dont_skip_doses escalates one level at a time while there is no toxicity"

    outcome_string = " ".join(f"{dose}{''.join('T' if t else 'N' for t in tox)}" for dose, tox in zip(doses, COHORTS))
    got = client.call(client.trials.GetDecision, tpb.GetDecisionRequest(trial_id=trial.trial_id))
    expected = evaluate(client, LIFECYCLE, outcome_string)
    assert same_decision(got.decision, expected.decision)
    assert len(got.decision.trace) == len(LIFECYCLE) and got.decision.trace[0].stage
    assert got.decision.num_patients == 9 and got.trial.version == 4
    assert answer.decision == got.decision, "RecordOutcomes answers the decision GetDecision gives"
    assert got.audit.sequence > sequences[-1]

    history = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    assert history.trial == got.trial
    assert history.outcome_string == outcome_string
    assert [e.version for e in history.events] == [1, 2, 3, 4]
    assert [e.audit_sequence for e in history.events] == sequences
    assert {e.author for e in history.events} == {INSECURE_PRINCIPAL.name}
    assert [e.WhichOneof("kind") for e in history.events] == ["created", "cohort", "cohort", "cohort"]
    first = history.events[0].created
    assert (first.protocol_id, first.design_sha256, first.design) == ("LIFE-1", trial.design_sha256, trial.design)
    for event, dose, toxicities in zip(history.events[1:], doses, COHORTS):
        assert event.cohort.dose == dose and event.cohort.recommended_dose == dose and not event.cohort.deviation
        assert [p.toxicity for p in event.cohort.patients] == list(toxicities)
        assert {p.dose for p in event.cohort.patients} == {dose}
    times = [e.recorded_at.ToDatetime() for e in history.events]
    assert times == sorted(times)
    # Each event's audit record is the call that wrote it.
    for event in history.events:
        assert server.audit.record(event.audit_sequence).entry.trial_id == trial.trial_id

    closed = client.call(client.trials.CloseTrial, tpb.CloseTrialRequest(
        trial_id=trial.trial_id, expected_version=4, idempotency_key=key(), reason="safety review: enough data"))
    assert closed.trial.status == tpb.TRIAL_STATUS_CLOSED and closed.trial.version == 5
    assert server.audit.record(closed.audit.sequence).entry.reason == "safety review: enough data"
    error = refused(record, client, closed.trial, 3, cohort("late", [False]))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    history = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    assert history.events[-1].closed.reason == "safety review: enough data"
    assert history.trial.status == tpb.TRIAL_STATUS_CLOSED and history.trial.version == 5
    # A closed trial still answers its decision.
    assert same_decision(decision_now(client, trial.trial_id).decision, expected.decision)


def test_list_trials_pages_newest_first(tmp_path) -> None:
    with running(Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True)) as server, \
            connect(f"127.0.0.1:{server.port}") as client:
        ids = [create(client, protocol_id=f"LIST-{i}").trial.trial_id for i in range(5)]
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            page = client.call(client.trials.ListTrials, tpb.ListTrialsRequest(page_size=2, page_token=token))
            pages += 1
            assert len(page.trials) <= 2
            seen.extend(t.trial_id for t in page.trials)
            token = page.next_page_token
            if not token:
                break
        assert seen == ids[::-1] and pages == 3
        everything = client.call(client.trials.ListTrials, tpb.ListTrialsRequest())
        assert [t.trial_id for t in everything.trials] == ids[::-1] and not everything.next_page_token
        assert [t.protocol_id for t in everything.trials] == [f"LIST-{i}" for i in range(4, -1, -1)]
        exact = client.call(client.trials.ListTrials, tpb.ListTrialsRequest(page_size=5))
        assert len(exact.trials) == 5 and not exact.next_page_token


def test_unknown_trial_is_not_found(client: DoseFindingClient) -> None:
    missing = tpb.Trial(trial_id="trial-does-not-exist", version=1)
    for call in (lambda: decision_now(client, missing.trial_id),
                 lambda: client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=missing.trial_id)),
                 lambda: record(client, missing, 1, cohort("x", [False])),
                 lambda: client.call(client.trials.CloseTrial, tpb.CloseTrialRequest(
                     trial_id=missing.trial_id, expected_version=1, idempotency_key=key(), reason="r"))):
        error = refused(call)
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert error.message == "no trial 'trial-does-not-exist'", "the servicer's message, as text"


def test_get_decision_passes_quantiles_and_thresholds(client: DoseFindingClient) -> None:
    quantiles = [0.1, 0.9]
    trial = create(client).trial
    answer = record_as_recommended(client, trial, cohort("q", [False, False, True]))
    got = client.call(client.trials.GetDecision, tpb.GetDecisionRequest(
        trial_id=trial.trial_id, quantiles=quantiles, tox_thresholds=[0.33]))
    assert [q.p for q in got.decision.doses[0].prob_tox_quantiles] == quantiles
    assert [e.threshold for e in got.decision.doses[0].prob_tox_exceeds] == [0.33]
    assert got.decision.recommended_dose == answer.decision.recommended_dose
    assert not answer.decision.doses[0].prob_tox_quantiles, "RecordOutcomes answers without extra quantiles"
