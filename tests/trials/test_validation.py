"""Bad input to TrialService is INVALID_ARGUMENT with a violation naming the field; nothing is written."""

from __future__ import annotations

from typing import Callable

import grpc
import pytest

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient

from .support import CRM, LIFECYCLE, cohort, create, design, invalid, key, record, refused


@pytest.fixture
def trial(client: DoseFindingClient) -> tpb.Trial:
    """An open trial with one cohort (patients c-1..c-3 at dose 1), at version 2."""
    created = create(client).trial
    return record(client, created, 1, cohort("c", [False, False, False])).trial


def create_request(**fields: object) -> tpb.CreateTrialRequest:
    values: dict[str, object] = {"protocol_id": "P", "design": design(LIFECYCLE), "idempotency_key": key()}
    values.update(fields)
    return tpb.CreateTrialRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("request_, field", [
    (create_request(protocol_id=""), "protocol_id"),
    (create_request(idempotency_key=""), "idempotency_key"),
    (create_request(design=design([dict(CRM, target=1.5)])), "design.stages[0].crm.target"),
    (create_request(design=design([dict(CRM, skeleton=[0.3, 0.2])])), "design.stages[0].crm.skeleton[1]"),
    (create_request(design=design([{"stage": "stop_at_n", "n": 3}])), "design.stages[0].stage"),
    (create_request(dose_labels=["a", "b"]), "dose_labels"),
], ids=["protocol_id", "idempotency_key", "target", "skeleton", "no-selector", "dose_labels"])
def test_create_refuses(client: DoseFindingClient, request_: tpb.CreateTrialRequest, field: str) -> None:
    violations = invalid(client.call, client.trials.CreateTrial, request_)
    assert field in violations, violations


@pytest.mark.parametrize("fields, violation", [
    ({"dose_labels": ["10mg", "20mg", "10mg", "80mg", "160mg"]},
     ("dose_labels[2]", "'10mg' is given already, at dose_labels[0]")),
    ({"dose_labels": ["10mg", " ", "40mg", "80mg", "160mg"]}, ("dose_labels[1]", "is empty")),
    ({"metadata": [tpb.MetadataEntry(key="site", value="A"), tpb.MetadataEntry(key="site", value="B")]},
     ("metadata[1].key", "'site' is given already, at metadata[0].key")),
    ({"metadata": [tpb.MetadataEntry(key="", value="A")]}, ("metadata[0].key", "is empty")),
], ids=["repeated-label", "blank-label", "repeated-key", "blank-key"])
def test_dose_labels_and_metadata_keys_are_each_given_once(client: DoseFindingClient, fields: dict[str, object],
                                                           violation: tuple[str, str]) -> None:
    violations = invalid(client.call, client.trials.CreateTrial, create_request(**fields))
    assert violations == dict([violation])


def test_an_empty_design_is_refused(client: DoseFindingClient) -> None:
    violations = invalid(client.call, client.trials.CreateTrial, create_request(design=None))
    assert any(f.startswith("design") for f in violations), violations


def patient(patient_id: str, **fields: object) -> outcomes_pb2.PatientOutcome:
    return outcomes_pb2.PatientOutcome(patient_id=patient_id, **fields)  # type: ignore[arg-type]


RECORD_CASES: list[tuple[str, Callable[[tpb.Trial], dict[str, object]], str]] = [
    ("dose-above", lambda t: {"dose": 6, "patients": cohort("n", [False])}, "dose"),
    ("dose-zero", lambda t: {"dose": 0, "patients": cohort("n", [False])}, "dose"),
    ("empty-cohort", lambda t: {"dose": 2, "patients": []}, "patients"),
    ("duplicate-in-cohort", lambda t: {"dose": 2, "patients": [patient("n-1"), patient("n-1")]},
     "patients[1].patient_id"),
    ("duplicate-of-earlier", lambda t: {"dose": 2, "patients": [patient("n-1"), patient("c-2")]},
     "patients[1].patient_id"),
    ("missing-patient-id", lambda t: {"dose": 2, "patients": [patient("")]}, "patients[0].patient_id"),
    ("patient-dose", lambda t: {"dose": 2, "patients": [patient("n-1", dose=3)]}, "patients[0].dose"),
    ("weight-above-1", lambda t: {"dose": 2, "patients": [patient("n-1", weight=5.0)]}, "patients[0].weight"),
    ("weight-nan", lambda t: {"dose": 2, "patients": [patient("n-1", weight=float("nan"))]}, "patients[0].weight"),
    ("missing-key", lambda t: {"dose": 2, "patients": cohort("n", [False]), "idempotency_key": ""},
     "idempotency_key"),
    ("deviation-without-reason", lambda t: {"dose": 3, "patients": cohort("n", [False]), "deviation": True},
     "deviation_reason"),
    ("not-recommended", lambda t: {"dose": 3, "patients": cohort("n", [False])}, "dose"),
]


@pytest.mark.parametrize("make, field", [(m, f) for _, m, f in RECORD_CASES], ids=[n for n, _, _ in RECORD_CASES])
def test_record_refuses(client: DoseFindingClient, trial: tpb.Trial, make: Callable[[tpb.Trial], dict[str, object]],
                        field: str) -> None:
    fields = make(trial)
    violations = invalid(record, client, trial, fields.pop("dose"), fields.pop("patients"), **fields)
    assert field in violations, violations
    after = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    assert after.trial.version == 2 and after.trial.num_patients == 3, "a refused write changes nothing"


def test_a_correction_that_changes_nothing_says_so(client: DoseFindingClient, trial: tpb.Trial) -> None:
    violations = invalid(client.call, client.trials.CorrectOutcome,
                         correction(trial, corrected=outcomes_pb2.PatientOutcome(toxicity=False)))
    assert violations == {"corrected": "is the outcome recorded for c-1 already; a correction changes it"}


def test_a_duplicate_patient_is_told_apart_from_one_recorded_before(client: DoseFindingClient,
                                                                     trial: tpb.Trial) -> None:
    twice = invalid(record, client, trial, 2, [patient("n-1"), patient("n-1")])
    assert twice["patients[1].patient_id"] == "patient 'n-1' appears twice in this cohort"
    earlier = invalid(record, client, trial, 2, [patient("n-1"), patient("c-2")])
    assert earlier["patients[1].patient_id"] == ("patient 'c-2' is already recorded; "
                                                 "use CorrectOutcome to change an outcome")


def test_get_decision_refuses_a_quantile_level_that_is_not_a_probability(client: DoseFindingClient,
                                                                         trial: tpb.Trial) -> None:
    violations = invalid(client.call, client.trials.GetDecision,
                         tpb.GetDecisionRequest(trial_id=trial.trial_id, quantiles=[0.5, 2.0]))
    assert violations == {"quantiles[1]": "2.0 is not strictly between 0 and 1"}


def test_record_without_a_trial_id_is_refused(client: DoseFindingClient) -> None:
    violations = invalid(record, client, tpb.Trial(version=1), 1, cohort("x", [False]))
    assert set(violations) == {"trial_id"}


@pytest.mark.parametrize("version", [0, -1])
def test_a_write_without_the_version_last_read_is_refused_not_aborted(client: DoseFindingClient, trial: tpb.Trial,
                                                                      version: int) -> None:
    unread = tpb.Trial(trial_id=trial.trial_id, version=version)
    expected = {"expected_version": f"{version} is not a trial version (1 or more): send the version last read"}
    assert invalid(record, client, unread, 2, cohort("n", [False])) == expected
    assert invalid(client.call, client.trials.CorrectOutcome, correction(trial, expected_version=version)) == expected
    assert invalid(client.call, client.trials.CloseTrial, tpb.CloseTrialRequest(
        trial_id=trial.trial_id, expected_version=version, reason="done", idempotency_key=key())) == expected


def correction(trial: tpb.Trial, **fields: object) -> tpb.CorrectOutcomeRequest:
    values: dict[str, object] = {"trial_id": trial.trial_id, "expected_version": trial.version,
                                 "idempotency_key": key(), "patient_id": "c-1",
                                 "corrected": outcomes_pb2.PatientOutcome(toxicity=True), "reason": "SDV"}
    values.update(fields)
    return tpb.CorrectOutcomeRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("fields, field", [
    ({"reason": ""}, "reason"),
    ({"patient_id": "nobody"}, "patient_id"),
    ({"patient_id": ""}, "patient_id"),
    ({"corrected": None}, "corrected"),
    ({"corrected": outcomes_pb2.PatientOutcome(dose=2, toxicity=True)}, "corrected.dose"),
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"corrected": outcomes_pb2.PatientOutcome(toxicity=True, weight=1.5)}, "corrected.weight"),
], ids=["reason", "unknown-patient", "no-patient", "no-outcome", "dose-change", "idempotency_key", "weight"])
def test_correct_refuses(client: DoseFindingClient, trial: tpb.Trial, fields: dict[str, object], field: str) -> None:
    violations = invalid(client.call, client.trials.CorrectOutcome, correction(trial, **fields))
    assert field in violations, violations


@pytest.mark.parametrize("reason, idempotency_key, field", [("", "k", "reason"), ("  ", "k", "reason"),
                                                             ("done", "", "idempotency_key")])
def test_close_refuses(client: DoseFindingClient, trial: tpb.Trial, reason: str, idempotency_key: str,
                       field: str) -> None:
    request = tpb.CloseTrialRequest(trial_id=trial.trial_id, expected_version=trial.version, reason=reason,
                                    idempotency_key=idempotency_key and key())
    assert field in invalid(client.call, client.trials.CloseTrial, request)
    after = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    assert after.trial.status == tpb.TRIAL_STATUS_OPEN


@pytest.mark.parametrize("page_size", [-1, 501, 100_000])
def test_page_size_out_of_range(client: DoseFindingClient, page_size: int) -> None:
    violations = invalid(client.call, client.trials.ListTrials, tpb.ListTrialsRequest(page_size=page_size))
    assert set(violations) == {"page_size"}


@pytest.mark.parametrize("method, message", [("GetTrial", tpb.GetTrialRequest),
                                             ("GetDecision", tpb.GetDecisionRequest)])
def test_reads_need_a_trial_id(client: DoseFindingClient, method: str, message: type) -> None:
    assert set(invalid(client.call, getattr(client.trials, method), message())) == {"trial_id"}


def test_unknown_trial_for_a_correction_is_not_found(client: DoseFindingClient) -> None:
    request = correction(tpb.Trial(trial_id="trial-missing", version=2))
    assert refused(client.call, client.trials.CorrectOutcome, request).code == grpc.StatusCode.NOT_FOUND


def test_an_unknown_page_token_is_refused(client: DoseFindingClient) -> None:
    request = tpb.ListTrialsRequest(page_size=2, page_token="not-a-token")
    assert set(invalid(client.call, client.trials.ListTrials, request)) == {"page_token"}
