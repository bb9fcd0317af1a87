"""Backfill and randomised expansion in the trial lifecycle: assignment, recording, concealment."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest
from google.protobuf import json_format

from dosefinding.v1 import audit_service_pb2, outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as pb
from dosefinding_client import ServiceError, design_from_stages
from dosefinding_server.engine.expansion import ExpansionPlan, sequence

CRM = [{"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"},
       {"stage": "dont_skip_doses", "when_escalating": True}]
BACKFILL = pb.BackfillPlan(cap_per_dose=2, safety_theta=0.3, safety_confidence=0.9)
EXPANSION = pb.ExpansionPlan(arms=[2, 3], strata=["NSCLC", "melanoma"], block_multiples=[1, 2])


class Trial:
    """A trial driven through the public API, tracking its version."""

    def __init__(self, client, **plans) -> None:
        self.client = client
        created = client.call(client.trials.CreateTrial, pb.CreateTrialRequest(
            protocol_id="CONDUCT", design=design_from_stages(CRM), idempotency_key=f"create-{id(self)}", **plans))
        self.trial_id, self.version, self.responses = created.trial.trial_id, created.trial.version, [created]
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"{self.trial_id}-{self.keys}"

    def record(self, dose: int, letters: str, ids: list[str], phase: int = 0) -> pb.RecordOutcomesResponse:
        patients = [outcomes_pb2.PatientOutcome(patient_id=i, toxicity=l == "T") for l, i in zip(letters, ids)]
        reply = self.client.call(self.client.trials.RecordOutcomes, pb.RecordOutcomesRequest(
            trial_id=self.trial_id, expected_version=self.version, idempotency_key=self.key(), dose=dose,
            patients=patients, phase=phase))
        self.version = reply.trial.version
        self.responses.append(reply)
        return reply

    def assign(self, patient_id: str, phase: int, stratum: str = "") -> pb.PatientAssigned:
        reply = self.client.call(self.client.trials.AssignPatient, pb.AssignPatientRequest(
            trial_id=self.trial_id, expected_version=self.version, idempotency_key=self.key(),
            patient_id=patient_id, phase=phase, stratum=stratum))
        self.version = reply.trial.version
        self.responses.append(reply)
        return reply.assignment

    def decision(self) -> pb.GetDecisionResponse:
        reply = self.client.call(self.client.trials.GetDecision, pb.GetDecisionRequest(trial_id=self.trial_id))
        self.responses.append(reply)
        return reply


def test_backfill_patients_are_allocated_to_open_doses_and_feed_the_model(client):
    trial = Trial(client, backfill=BACKFILL)
    trial.record(1, "NNN", ["E1", "E2", "E3"])
    trial.record(2, "NNN", ["E4", "E5", "E6"])
    decision = trial.decision()
    open_doses = [b.dose for b in decision.backfill if b.open]
    assert open_doses and max(open_doses) < decision.decision.recommended_dose
    assert decision.decision.trace[-1].stage == "backfill"
    assigned = trial.assign("B1", outcomes_pb2.TREATMENT_PHASE_BACKFILL)
    assert assigned.dose in open_doses
    with pytest.raises(ServiceError) as wrong_dose:
        trial.record(5 - assigned.dose, "T", ["B1"], outcomes_pb2.TREATMENT_PHASE_BACKFILL)
    assert wrong_dose.value.violations[0].field == "dose"
    before = trial.decision().decision
    after = trial.record(assigned.dose, "T", ["B1"], outcomes_pb2.TREATMENT_PHASE_BACKFILL).decision
    assert after.doses[assigned.dose - 1].toxicities == before.doses[assigned.dose - 1].toxicities + 1


def test_an_unassigned_patient_cannot_be_recorded_as_backfill(client):
    trial = Trial(client, backfill=BACKFILL)
    trial.record(1, "NNN", ["E1", "E2", "E3"])
    with pytest.raises(ServiceError) as refused:
        trial.record(1, "N", ["X9"], outcomes_pb2.TREATMENT_PHASE_BACKFILL)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.violations[0].field == "patients[0].patient_id"


def test_expansion_follows_the_concealed_sequence_of_each_stratum(client, server):
    trial = Trial(client, expansion=EXPANSION)
    doses = {s: [trial.assign(f"{s}-{i}", outcomes_pb2.TREATMENT_PHASE_EXPANSION, s).dose for i in range(8)]
             for s in ("NSCLC", "melanoma")}
    seed = server_seed(server, trial.trial_id)
    plan = ExpansionPlan(arms=(2, 3), strata=("NSCLC", "melanoma"), block_multiples=(1, 2))
    assert doses == {s: sequence(plan, seed, s, 8) for s in doses}
    balance = {b.stratum: {a.dose: a.assigned for a in b.arms} for b in trial.decision().expansion}
    assert balance == {s: {2: d.count(2), 3: d.count(3)} for s, d in doses.items()}


def server_seed(server, trial_id: str) -> int:
    """The secret seed, read from the store as only the service itself (or an inspector of it) can."""
    with server.database.reader() as reader:
        row = reader.execute("SELECT allocation_seed FROM trial_secrets WHERE trial_id = ?", (trial_id,)).fetchone()
    return int(row[0])


def test_no_call_reveals_the_seed_or_a_future_assignment(client, server):
    trial = Trial(client, expansion=EXPANSION)
    assigned = [trial.assign(f"P{i}", outcomes_pb2.TREATMENT_PHASE_EXPANSION, "NSCLC").dose for i in range(3)]
    history = client.call(client.trials.GetTrial, pb.GetTrialRequest(trial_id=trial.trial_id))
    trial.responses.append(history)
    seed = server_seed(server, trial.trial_id)
    created = history.events[0].created
    assert created.allocation_seed_sha256 == hashlib.sha256(str(seed).encode()).hexdigest()
    for response in trial.responses:
        text = json.dumps(json_format.MessageToDict(response))
        assert str(seed) not in text
    revealed = [e.assigned.dose for e in history.events if e.WhichOneof("kind") == "assigned"]
    assert revealed == assigned  # exactly the assignments made, none ahead
    exported = client.audit.ExportRecords(audit_service_pb2.ExportRecordsRequest(trial_id=trial.trial_id))
    assert str(seed) not in b"".join(chunk.chunk for chunk in exported).decode()


def test_replay_reproduces_decisions_of_trials_with_backfill_and_expansion(client):
    trial = Trial(client, backfill=BACKFILL, expansion=EXPANSION)
    trial.record(1, "NNN", ["E1", "E2", "E3"])
    trial.record(2, "NNN", ["E4", "E5", "E6"])
    trial.assign("B1", outcomes_pb2.TREATMENT_PHASE_BACKFILL)
    trial.assign("X1", outcomes_pb2.TREATMENT_PHASE_EXPANSION, "NSCLC")
    trial.decision()
    report = client.call(client.audit.ReplayDecisions,
                         audit_service_pb2.ReplayDecisionsRequest(trial_id=trial.trial_id))
    assert report.replayed >= 3 and not report.differences
