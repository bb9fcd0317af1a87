"""Writes to a trial: idempotent retries, optimistic concurrency, corrections and protocol deviations."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient
from dosefinding_server.api.server import RunningServer
from dosefinding_server.storage import Migration
from dosefinding_server.storage.sqlite import Database
from dosefinding_server.trials import store

from ..audit_service.support import export_jsonl
from .support import (LIFECYCLE, OPEN_ENDED, Writer, cohort, connect, create, decision_now, design, evaluate, history,
                      invalid, key, record, record_as_recommended, refused, same_decision)

M = TypeVar("M", bound=Message)


def without_replayed(response: M) -> M:
    """The response as first answered (``replayed`` cleared)."""
    copy = type(response)()
    copy.CopyFrom(response)
    copy.replayed = False
    return copy


# Idempotency.
def test_a_retried_record_answers_the_original_and_applies_once(client: DoseFindingClient,
                                                                server: RunningServer) -> None:
    trial = create(client).trial
    request = tpb.RecordOutcomesRequest(trial_id=trial.trial_id, expected_version=1, idempotency_key=key(), dose=1,
                                        patients=cohort("idem", [False, False, True]))
    first = client.call(client.trials.RecordOutcomes, request)
    size = server.audit.size
    again = client.call(client.trials.RecordOutcomes, request)
    assert again.replayed and not first.replayed
    assert again.audit.sequence == first.audit.sequence
    assert without_replayed(again) == first, "a retry gets the original answer, receipt included"
    assert server.audit.size == size + 1, "the retry is audited as a call of its own"
    events = history(client, trial.trial_id).events
    assert [e.WhichOneof("kind") for e in events] == ["created", "cohort"]
    assert events[1].audit_sequence == first.audit.sequence


def test_a_retried_create_and_close_are_replayed(client: DoseFindingClient) -> None:
    request = tpb.CreateTrialRequest(protocol_id="IDEM-CREATE", design=design(LIFECYCLE), idempotency_key=key())
    first = client.call(client.trials.CreateTrial, request)
    again = client.call(client.trials.CreateTrial, request)
    assert again.replayed and without_replayed(again) == first
    close = tpb.CloseTrialRequest(trial_id=first.trial.trial_id, expected_version=1, idempotency_key=key(),
                                  reason="withdrawn")
    closed = client.call(client.trials.CloseTrial, close)
    closed_again = client.call(client.trials.CloseTrial, close)
    assert closed_again.replayed and without_replayed(closed_again) == closed
    assert [e.version for e in history(client, first.trial.trial_id).events] == [1, 2]


def test_a_store_that_kept_each_answer_twice_migrates_to_one_copy(tmp_path: Path) -> None:
    """Schema version 2 also kept each write's answer in ``idempotency``; version 3 drops that copy (a retry is
    answered from the audit record, as the retry tests above show) and keeps the rest of every row."""
    with Database(tmp_path / "version2.sqlite3") as database:
        database.migrate(store.COMPONENT, [Migration(1, store._SCHEMA), Migration(2, store._SECRETS_SCHEMA)])
        with database.transaction() as tx:
            tx.execute("INSERT INTO idempotency VALUES ('system', '/m', 'key-1', 'digest', x'0a00', 7)")
        store.TrialStore(database)
        assert database.schema_version(store.COMPONENT) == 3
        assert [column[1] for column in database.query("PRAGMA table_info(idempotency)")] == [
            "principal", "method", "key", "request_sha256", "audit_sequence"]
        assert [tuple(row) for row in database.query("SELECT * FROM idempotency")] == [
            ("system", "/m", "key-1", "digest", 7)]


def test_the_same_key_for_another_request_is_refused(client: DoseFindingClient) -> None:
    trial = create(client).trial
    used = key()
    record(client, trial, 1, cohort("k", [False]), idempotency_key=used)
    at_v2 = tpb.Trial(trial_id=trial.trial_id, version=2)
    violations = invalid(record, client, at_v2, 1, cohort("k2", [False]), idempotency_key=used)
    assert set(violations) == {"idempotency_key"}
    assert "different request" in violations["idempotency_key"]
    assert [e.version for e in history(client, trial.trial_id).events] == [1, 2]


def test_a_stale_version_is_aborted(client: DoseFindingClient) -> None:
    trial = create(client).trial
    record(client, trial, 1, cohort("s1", [False, False, False]))
    error = refused(record, client, trial, 1, cohort("s2", [False]))  # still says version 1
    assert error.code == grpc.StatusCode.ABORTED
    assert error.message == f"trial {trial.trial_id} is at version 2, not 1: read it again and retry"
    refusal = export_jsonl(client)[-1]
    assert (refusal["status"], refusal["response"]["message"]) == ("ABORTED", error.message), "audited as answered"
    ahead = tpb.Trial(trial_id=trial.trial_id, version=7)
    assert refused(record, client, ahead, 1, cohort("s3", [False])).code == grpc.StatusCode.ABORTED
    assert [e.version for e in history(client, trial.trial_id).events] == [1, 2]


# Concurrent writers.
def test_concurrent_writers_leave_a_consistent_history(server: RunningServer) -> None:
    threads, cohorts = 4, 4
    with connect(f"127.0.0.1:{server.port}") as setup:
        trial = create(setup, OPEN_ENDED).trial
    with ExitStack() as stack:
        connected = [stack.enter_context(connect(f"127.0.0.1:{server.port}")) for _ in range(threads)]
        writers = [Writer(f"w{i}", c, trial.trial_id, cohorts) for i, c in enumerate(connected)]
        race = threading.Barrier(threads)
        running = [threading.Thread(target=w.run, args=(race,)) for w in writers]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in running)
        for writer in writers:
            assert writer.error is None, writer.error
        events = history(connected[0], trial.trial_id)
    assert sum(w.aborted for w in writers) >= threads - 1, "the first round's losers were told to read again"

    total = threads * cohorts
    assert [e.version for e in events.events] == list(range(1, total + 2)), "versions are contiguous"
    assert events.trial.version == total + 1 and events.trial.num_patients == 3 * total
    by_version = {e.version: e for e in events.events}
    acknowledged = [a for w in writers for a in w.acknowledged]
    assert len(acknowledged) == total
    assert sorted(a.trial.version for a in acknowledged) == list(range(2, total + 2))
    for writer in writers:
        for number, answer in enumerate(writer.acknowledged):
            event = by_version[answer.trial.version]
            assert event.audit_sequence == answer.audit.sequence
            assert event.WhichOneof("kind") == "cohort" and not event.cohort.deviation
            assert [p.patient_id for p in event.cohort.patients] == [f"{writer.name}-c{number}-{i}" for i in (1, 2, 3)]
    recorded = [p.patient_id for e in events.events[1:] for p in e.cohort.patients]
    assert len(recorded) == len(set(recorded)) == 3 * total, "every cohort exactly once"
    assert {pid.rsplit("-", 1)[0] for pid in recorded} == {f"w{i}-c{n}" for i in range(threads) for n in range(cohorts)}


# Corrections.
def test_a_correction_is_a_new_event_and_changes_the_decision(client: DoseFindingClient) -> None:
    trial = create(client).trial
    trial = record_as_recommended(client, trial, cohort("a", [False, False, False])).trial
    answer = record_as_recommended(client, trial, cohort("b", [False, False, False]))
    trial, before = answer.trial, answer.decision
    assert same_decision(before, evaluate(client, LIFECYCLE, "1NNN 2NNN").decision)

    request = tpb.CorrectOutcomeRequest(trial_id=trial.trial_id, expected_version=3, idempotency_key=key(),
                                        patient_id="b-2", corrected=outcomes_pb2.PatientOutcome(toxicity=True),
                                        reason="source data verification: grade 3 neutropenia")
    missing_reason = tpb.CorrectOutcomeRequest()
    missing_reason.CopyFrom(request)
    missing_reason.reason = "  "
    assert set(invalid(client.call, client.trials.CorrectOutcome, missing_reason)) == {"reason"}

    corrected = client.call(client.trials.CorrectOutcome, request)
    assert corrected.trial.version == 4 and corrected.trial.num_patients == 6
    expected = evaluate(client, LIFECYCLE, "1NNN 2NTN").decision
    assert same_decision(corrected.decision, expected)
    assert not same_decision(corrected.decision, before)
    assert corrected.decision.recommended_dose < before.recommended_dose
    assert same_decision(decision_now(client, trial.trial_id).decision, expected)

    after = history(client, trial.trial_id)
    assert [e.WhichOneof("kind") for e in after.events] == ["created", "cohort", "cohort", "correction"]
    assert not after.events[2].cohort.patients[1].toxicity, "the original record is kept as it was"
    correction = after.events[3].correction
    assert (correction.patient_id, correction.supersedes_version) == ("b-2", 3)
    assert correction.corrected.toxicity and correction.corrected.dose == 2
    assert correction.reason == request.reason
    assert after.outcome_string == "1NNN 2NTN"

    # Correcting the same patient again supersedes the correction, not the cohort.
    again = client.call(client.trials.CorrectOutcome, tpb.CorrectOutcomeRequest(
        trial_id=trial.trial_id, expected_version=4, idempotency_key=key(), patient_id="b-2",
        corrected=outcomes_pb2.PatientOutcome(toxicity=False), reason="the grade was misread"))
    assert same_decision(again.decision, before)
    assert history(client, trial.trial_id).events[4].correction.supersedes_version == 4


# Deviations.
def test_a_dose_other_than_the_recommendation_needs_a_deviation(client: DoseFindingClient) -> None:
    trial = create(client).trial
    trial = record_as_recommended(client, trial, cohort("d1", [False, False, False])).trial
    recommended = decision_now(client, trial.trial_id).decision.recommended_dose
    assert recommended == 2
    violations = invalid(record, client, trial, 3, cohort("d2", [False, False, False]))
    assert set(violations) == {"dose"} and "recommends dose 2" in violations["dose"]
    assert set(invalid(record, client, trial, 3, cohort("d2", [False]), deviation=True)) == {"deviation_reason"}
    assert set(invalid(record, client, trial, 3, cohort("d2", [False]), deviation=True,
                       deviation_reason=" ")) == {"deviation_reason"}

    answer = record(client, trial, 1, cohort("d2", [False, False, False]), deviation=True,
                    deviation_reason="investigator decision: pending PK results")
    assert answer.trial.version == 3
    event = history(client, trial.trial_id).events[-1].cohort
    assert event.deviation and event.deviation_reason == "investigator decision: pending PK results"
    assert (event.dose, event.recommended_dose) == (1, 2)
    assert same_decision(answer.decision, evaluate(client, LIFECYCLE, "1NNN 1NNN").decision)
    # Following the recommendation is not a deviation, even if the caller says it is.
    now = decision_now(client, trial.trial_id).decision.recommended_dose
    followed = record(client, answer.trial, now, cohort("d3", [False]), deviation=True, deviation_reason="n/a")
    event = history(client, trial.trial_id).events[-1].cohort
    assert followed.trial.version == 4 and not event.deviation and not event.deviation_reason


def test_concurrent_retries_of_one_create_make_one_trial(server: RunningServer) -> None:
    """Duplicates of one request racing each other (a client retrying on a timeout) apply once."""
    request = tpb.CreateTrialRequest(protocol_id="RACE", design=design(LIFECYCLE), idempotency_key=key())
    copies = 6
    answers: list[tpb.CreateTrialResponse] = []
    errors: list[BaseException] = []
    start = threading.Barrier(copies)

    def create_copy() -> None:
        with connect(f"127.0.0.1:{server.port}") as own:
            own.wait_ready()
            start.wait(timeout=30)
            try:
                answers.append(own.call(own.trials.CreateTrial, request))
            except BaseException as error:  # collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=create_copy) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len({a.trial.trial_id for a in answers}) == 1
    assert sorted(a.replayed for a in answers) == [False] + [True] * (copies - 1)
    assert len({a.audit.sequence for a in answers}) == 1
