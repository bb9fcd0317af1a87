"""Helpers of the AuditService tests: callers with roles, a request for every DecisionService method, the
trial lifecycle, and reading the log back through the service."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any, Iterable

from google.protobuf import json_format
from google.protobuf.message import Message

from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import design_pb2, outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, design_from_stages
from dosefinding_server.security.authentication import Identities
from dosefinding_server.security.principals import Role, token_digest

from ..trials.support import Caller

DECISIONS = "/dosefinding.v1.DecisionService/"
TRIALS = "/dosefinding.v1.TrialService/"
CRM = {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}
DESIGN = [CRM, {"stage": "dont_skip_doses", "when_escalating": True}, {"stage": "stop_at_n", "n": 18}]
SKELETON = [0.05, 0.12, 0.25, 0.40, 0.55]


AUDITOR = Caller("auditor@qa.example", "auditor-token-" + "a" * 24, frozenset({Role.AUDITOR}))
ADMIN = Caller("admin@ops.example", "admin-token-" + "b" * 24, frozenset({Role.ADMIN}))
STATISTICIAN = Caller("stats@sponsor.example", "stats-token-" + "c" * 24, frozenset({Role.STATISTICIAN}))
SYSTEM = Caller("edc@site.example", "edc-token-" + "d" * 24, frozenset({Role.SYSTEM}))
CALLERS = (AUDITOR, ADMIN, STATISTICIAN, SYSTEM)


def identities(callers: Iterable[Caller] = CALLERS) -> Identities:
    return Identities(tokens={token_digest(c.token): (c.name, c.roles) for c in callers})


def connect(port: int, caller: Caller | None) -> DoseFindingClient:
    """A client of the server on ``port`` presenting ``caller``'s token (none: no credentials)."""
    client = DoseFindingClient(f"127.0.0.1:{port}", timeout=30.0, retries=0,
                               metadata=caller.metadata if caller else ())
    client.wait_ready()
    return client


def decision_requests() -> dict[str, Message]:
    """One valid request for every DecisionService method, by full method name."""
    crm_design = design_from_stages(DESIGN)
    boin_comb_npts = [calc.CountRow(values=v) for v in ([3, 6, 0], [3, 0, 0], [0, 0, 0])]
    boin_comb_ntox = [calc.CountRow(values=v) for v in ([0, 1, 0], [1, 0, 0], [0, 0, 0])]
    requests: dict[str, Message] = {
        "EvaluateDesign": dpb.EvaluateDesignRequest(
            design=crm_design, outcomes=outcomes_pb2.Outcomes(outcome_string="1NNN 2NTN"),
            quantiles=[0.1, 0.9], tox_thresholds=[0.3]),
        "FitCrm": calc.FitCrmRequest(prior=SKELETON, target=0.25, tox=[0, 0, 0, 0, 1, 0],
                                     level=[1, 1, 1, 2, 2, 2], model=design_pb2.CRM_MODEL_EMPIRIC,
                                     method=calc.CRM_METHOD_BAYES),
        "CalibrateSkeleton": calc.CalibrateSkeletonRequest(halfwidth=0.05, target=0.25, nu=3, nlevel=5,
                                                           model=design_pb2.CRM_MODEL_EMPIRIC),
        "GetBoinBoundaries": calc.GetBoinBoundariesRequest(target=0.3, ncohort=10, cohortsize=3),
        "SelectBoinMtd": calc.SelectBoinMtdRequest(target=0.3, npts=[3, 3, 6, 3], ntox=[0, 0, 1, 2]),
        "NextBoinCombination": calc.NextBoinCombinationRequest(
            target=0.3, npts=boin_comb_npts, ntox=boin_comb_ntox, current=calc.DoseCombination(a=1, b=2),
            seed=(1 << 63) + 12345),
        "SelectBoinCombinationMtd": calc.SelectBoinCombinationMtdRequest(
            target=0.3, npts=boin_comb_npts, ntox=boin_comb_ntox),
        "EvaluatePosteriorStopping": calc.EvaluatePosteriorStoppingRequest(
            rule=calc.POSTERIOR_RULE_TOXICITY, theta=0.3, confidence=0.9, prior_alpha=1, prior_beta=1, n=6,
            events=3),
        "GetPosteriorStoppingTable": calc.GetPosteriorStoppingTableRequest(
            rule=calc.POSTERIOR_RULE_TOXICITY, theta=0.3, confidence=0.9, prior_alpha=1, prior_beta=1, max_n=12),
        "EvaluateTreeStopping": calc.EvaluateTreeStoppingRequest(
            design=crm_design, outcomes=outcomes_pb2.Outcomes(outcome_string="1NNN 2NNT"), k=2),
    }
    return {DECISIONS + name: request for name, request in requests.items()}


def call_decision(client: DoseFindingClient, method: str, request: Message) -> Message:
    return client.call(getattr(client.decisions, method.rsplit("/", 1)[1]), request)


def key() -> str:
    return uuid.uuid4().hex


def patients(prefix: str, toxicities: str) -> list[outcomes_pb2.PatientOutcome]:
    return [outcomes_pb2.PatientOutcome(patient_id=f"{prefix}-{i}", toxicity=t == "T")
            for i, t in enumerate(toxicities, start=1)]


def run_trial(statistician: DoseFindingClient, system: DoseFindingClient, *, protocol_id: str = "AUDIT-1",
              close_reason: str = "enrolment complete") -> str:
    """A whole trial lifecycle: create, three cohorts at the recommended dose, a correction, a decision, close.

    Returns the trial id.
    """
    trial = statistician.call(statistician.trials.CreateTrial, tpb.CreateTrialRequest(
        protocol_id=protocol_id, design=design_from_stages(DESIGN), idempotency_key=key())).trial
    dose = system.call(system.trials.GetDecision, tpb.GetDecisionRequest(trial_id=trial.trial_id)).decision
    for cohort, toxicities in enumerate(("NNN", "NNT", "NTN"), start=1):
        recorded = system.call(system.trials.RecordOutcomes, tpb.RecordOutcomesRequest(
            trial_id=trial.trial_id, expected_version=trial.version, dose=dose.recommended_dose,
            patients=patients(f"{protocol_id}-C{cohort}", toxicities), idempotency_key=key()))
        trial, dose = recorded.trial, recorded.decision
    corrected = system.call(system.trials.CorrectOutcome, tpb.CorrectOutcomeRequest(
        trial_id=trial.trial_id, expected_version=trial.version, patient_id=f"{protocol_id}-C2-3",
        corrected=outcomes_pb2.PatientOutcome(toxicity=False), reason="re-graded at source verification",
        idempotency_key=key()))
    trial = corrected.trial
    statistician.call(statistician.trials.GetDecision, tpb.GetDecisionRequest(trial_id=trial.trial_id))
    statistician.call(statistician.trials.CloseTrial, tpb.CloseTrialRequest(
        trial_id=trial.trial_id, expected_version=trial.version, reason=close_reason, idempotency_key=key()))
    return trial.trial_id


def export_text(client: DoseFindingClient, **fields: Any) -> tuple[str, int]:
    """The whole export (its chunks joined) and the record count the service reports."""
    chunks = list(client.audit.ExportRecords(apb.ExportRecordsRequest(**fields), timeout=client.timeout,
                                             metadata=client.metadata))
    assert chunks, "an export always has at least one chunk"
    assert len({c.records for c in chunks}) == 1
    return b"".join(c.chunk for c in chunks).decode("utf-8"), chunks[0].records


def export_jsonl(client: DoseFindingClient, **fields: Any) -> list[dict[str, Any]]:
    text, count = export_text(client, format=apb.EXPORT_FORMAT_JSONL, **fields)
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == count
    return records


def export_csv(client: DoseFindingClient, **fields: Any) -> list[dict[str, str]]:
    text, count = export_text(client, format=apb.EXPORT_FORMAT_CSV, **fields)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == count
    return rows


def as_json(message: Message) -> dict[str, Any]:
    """A request as the audit log records it (proto3 JSON with the .proto field names)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
