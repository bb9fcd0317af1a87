"""A scripted trial, end to end through ``TrialService``: the service used as a sponsor uses it.

Performance qualification shows the system doing its job in use, not only
answering isolated calls.  The script registers a trial with a locked CRM
design, then, cohort by cohort, asks for the decision (with its trace),
treats the next cohort at the recommended dose with outcomes taken from a
fixed, documented table (:data:`TOXICITIES`), and records them, until the
design stops; then it closes the trial.  Along the way it checks what a
sponsor relies on:

* the locked design's SHA-256 is the one ``DecisionService`` computes;
* every decision carries a trace with one step per stage, and agrees with
  ``EvaluateDesign`` on the trial's outcome string;
* a retried write (same idempotency key) is answered, not applied twice;
  a write against a stale version is refused (``ABORTED``); a dose the
  design did not recommend is refused with a field violation unless
  recorded as a deviation with a reason;
* every write returns an audit receipt; the history lists every event;
* a closed trial accepts no outcomes (``FAILED_PRECONDITION``).

The audit receipts are returned so that audit verification can find them
in the verified log (:mod:`.audit_check`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc

from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages

DESIGN = [
    {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric",
     "scale": 1.34},
    {"stage": "dont_skip_doses", "when_escalating": True},
    {"stage": "stop_at_n", "n": 18},
]
COHORT_SIZE = 3
#: toxicity (True) of the 1st, 2nd and 3rd patient of each cohort treated at a dose, by dose
TOXICITIES = {1: (False, False, False), 2: (False, False, False), 3: (False, True, False),
              4: (True, False, True), 5: (True, True, False)}
MAX_COHORTS = 10
QUANTILES = (0.05, 0.5, 0.95)


@dataclass
class Script:
    """The record of one scripted run: each check with its outcome, the cohorts, the audit receipts."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    trial_id: str | None = None
    engine_version: str | None = None

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})
        return ok

    def receipt(self, method: str, response: Any) -> None:
        self.receipts.append({"method": method, "sequence": response.audit.sequence,
                              "leaf_hash": response.audit.leaf_hash.hex()})
        self.check(f"{method} returns an audit receipt", response.audit.sequence > 0,
                   f"sequence {response.audit.sequence}")


def _refused(call: Callable[[], Any]) -> ServiceError | None:
    """The error a call fails with, or ``None`` if it succeeds."""
    try:
        call()
    except ServiceError as error:
        return error
    return None


def _write(trial: tpb.Trial, dose: int, cohort: int, key: str) -> tpb.RecordOutcomesRequest:
    patients = [outcomes_pb2.PatientOutcome(patient_id=f"P{cohort:02d}-{i + 1}", toxicity=tox)
                for i, tox in enumerate(TOXICITIES[dose][:COHORT_SIZE])]
    return tpb.RecordOutcomesRequest(trial_id=trial.trial_id, expected_version=trial.version,
                                     idempotency_key=key, dose=dose, patients=patients)


def run(client: DoseFindingClient) -> dict[str, Any]:
    """Run the script; the PQ entry with ``ok`` false when any check fails or a call errs unexpectedly."""
    script = Script()
    try:
        _script(client, script)
    except (ServiceError, grpc.RpcError) as error:
        script.check("the scripted trial runs to its end without an unexpected error", False, str(error))
    return {"ok": bool(script.checks) and all(c["ok"] for c in script.checks), "trial_id": script.trial_id,
            "engine_version": script.engine_version,
            "design": DESIGN, "toxicities": {str(k): v for k, v in TOXICITIES.items()},
            "checks": script.checks, "cohorts": script.cohorts, "receipts": script.receipts}


def _script(client: DoseFindingClient, script: Script) -> None:
    design = design_from_stages(DESIGN)
    evaluated = client.call(client.decisions.EvaluateDesign, dpb.EvaluateDesignRequest(
        design=design, outcomes=outcomes_pb2.Outcomes(outcome_string="")))
    script.engine_version = evaluated.engine_version
    created = client.call(client.trials.CreateTrial, tpb.CreateTrialRequest(
        protocol_id=f"VALIDATION-{uuid.uuid4().hex[:8]}", design=design,
        dose_labels=[f"{10 * 2 ** i} mg" for i in range(5)], idempotency_key=uuid.uuid4().hex))
    trial = created.trial
    script.trial_id = trial.trial_id
    script.receipt("CreateTrial", created)
    script.check("the locked design's SHA-256 is the one EvaluateDesign computes",
                 trial.design_sha256 == evaluated.design_sha256, trial.design_sha256)
    last_request: tpb.RecordOutcomesRequest | None = None
    for cohort in range(1, MAX_COHORTS + 1):
        decision = client.call(client.trials.GetDecision, tpb.GetDecisionRequest(
            trial_id=trial.trial_id, quantiles=QUANTILES)).decision
        outcome_string = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id)
                                     ).outcome_string
        direct = client.call(client.decisions.EvaluateDesign, dpb.EvaluateDesignRequest(
            design=design, outcomes=outcomes_pb2.Outcomes(outcome_string=outcome_string),
            quantiles=QUANTILES)).decision
        script.check(f"decision {cohort}: the trace has one step per stage, in order",
                     [step.stage for step in decision.trace] == [s["stage"] for s in DESIGN],
                     "; ".join(f"{s.stage}: {s.reason}" for s in decision.trace))
        script.check(f"decision {cohort}: TrialService and DecisionService agree on {outcome_string!r}",
                     decision == direct)
        if not decision.continue_trial or not decision.HasField("recommended_dose"):
            script.cohorts.append({"cohort": cohort, "outcomes": outcome_string, "decision": "stop",
                                   "recommended_dose": decision.recommended_dose
                                   if decision.HasField("recommended_dose") else None})
            break
        dose = decision.recommended_dose
        if cohort == 1:
            wrong = _write(trial, dose % 5 + 1, cohort, uuid.uuid4().hex)
            error = _refused(lambda: client.call(client.trials.RecordOutcomes, wrong))
            script.check("a dose the design did not recommend is refused with a field violation on dose",
                         error is not None and error.code == grpc.StatusCode.INVALID_ARGUMENT
                         and any(v.field == "dose" for v in error.violations), str(error))
        last_request = _write(trial, dose, cohort, uuid.uuid4().hex)
        recorded = client.call(client.trials.RecordOutcomes, last_request)
        script.receipt("RecordOutcomes", recorded)
        script.check(f"cohort {cohort}: the version advances by one",
                     recorded.trial.version == trial.version + 1, f"version {recorded.trial.version}")
        script.cohorts.append({"cohort": cohort, "outcomes": outcome_string, "dose": dose,
                               "toxicities": sum(p.toxicity for p in last_request.patients),
                               "trace": [f"{s.stage}: {s.reason}" for s in decision.trace]})
        trial = recorded.trial
    script.check("the design stopped the trial within the scripted cohorts",
                 bool(script.cohorts) and script.cohorts[-1].get("decision") == "stop")
    if last_request is not None:
        replay = client.call(client.trials.RecordOutcomes, last_request)
        script.check("a retried write is answered from the record, not applied twice",
                     replay.replayed and replay.trial.version == trial.version,
                     f"replayed={replay.replayed}, version {replay.trial.version}")
        stale = tpb.RecordOutcomesRequest()
        stale.CopyFrom(last_request)
        stale.idempotency_key = uuid.uuid4().hex
        error = _refused(lambda: client.call(client.trials.RecordOutcomes, stale))
        script.check("a write against a stale version is refused (ABORTED)",
                     error is not None and error.code == grpc.StatusCode.ABORTED, str(error))
    history = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    recorded_cohorts = sum(1 for c in script.cohorts if "dose" in c)
    script.check("the history lists the creation and every cohort, each with its audit record",
                 len(history.events) == 1 + recorded_cohorts and all(e.audit_sequence > 0 for e in history.events),
                 f"{len(history.events)} events")
    closed = client.call(client.trials.CloseTrial, tpb.CloseTrialRequest(
        trial_id=trial.trial_id, expected_version=trial.version, idempotency_key=uuid.uuid4().hex,
        reason="validation run complete"))
    script.receipt("CloseTrial", closed)
    script.check("the trial is closed", closed.trial.status == tpb.TRIAL_STATUS_CLOSED)
    after = _write(closed.trial, 1, 99, uuid.uuid4().hex)
    error = _refused(lambda: client.call(client.trials.RecordOutcomes, after))
    script.check("a closed trial accepts no outcomes (FAILED_PRECONDITION)",
                 error is not None and error.code == grpc.StatusCode.FAILED_PRECONDITION, str(error))
