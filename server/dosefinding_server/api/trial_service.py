"""``dosefinding.v1.TrialService``: the trial lifecycle over the append-only trial store.

Writes are serialised per trial (a lock held until the audited commit), carry
an idempotency key (a retry gets the original answer and never applies twice)
and the version the caller last saw (a stale version is ``ABORTED``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from dosefinding.v1 import design_pb2, outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as pb
from dosefinding.v1 import trial_service_pb2_grpc as pb_grpc
from dosefinding_server.engine import backfill as backfilling
from dosefinding_server.engine import expansion as expanding
from dosefinding_server.engine.decision import Decision, decide
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.outcomes import BACKFILL, ESCALATION, EXPANSION, check_patient, check_patients
from dosefinding_server.engine.selector import Selector
from dosefinding_server.engine.stopping.posterior import PosteriorRule, Rule
from dosefinding_server.trials import model
from dosefinding_server.trials.cache import StateCache
from dosefinding_server.trials.locks import KeyedLocks
from dosefinding_server.trials.store import TrialStore

from .calls import current_call
from .translate import decision_to_proto, design_from_proto, design_sha256, get_optional, patient_from_proto

MAX_PAGE = 500


def backfill_plan(message: pb.BackfillPlan | None) -> backfilling.BackfillPlan | None:
    """The engine's backfill plan; problems are reported under ``backfill.``."""
    if message is None:
        return None
    try:
        prior = (get_optional(message, "prior_alpha", 1.0), get_optional(message, "prior_beta", 1.0))
        futility = (PosteriorRule(Rule.FUTILITY, message.futility_theta, message.futility_confidence, *prior)
                    if message.HasField("futility_theta") else None)
        return backfilling.BackfillPlan(
            cap_per_dose=message.cap_per_dose,
            safety=PosteriorRule(Rule.TOXICITY, message.safety_theta, message.safety_confidence, *prior),
            clear_after=get_optional(message, "clear_after", 3),
            futility=futility)
    except InputError as error:
        raise error.prefixed("backfill") from None


def expansion_plan(message: pb.ExpansionPlan | None) -> expanding.ExpansionPlan | None:
    """The engine's expansion plan; problems are reported under ``expansion.``."""
    if message is None:
        return None
    try:
        return expanding.ExpansionPlan(arms=tuple(message.arms), strata=tuple(message.strata) or ("all",),
                                       block_multiples=tuple(message.block_multiples) or (1, 2))
    except InputError as error:
        raise error.prefixed("expansion") from None


def distinct_names(names: Sequence[str], path: Callable[[int], str]) -> None:
    """Each name (a dose label, a metadata key) given, and given once: a blank or repeated one would leave
    a dose or a value ambiguous, so it is refused where it stands (``path`` names the field by index)."""
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name.strip():
            raise InputError(path(index), "is empty")
        if name in first:
            raise InputError(path(index), f"{name!r} is given already, at {path(first[name])}")
        first[name] = index


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def request_digest(request: Message) -> str:
    """Identity of a request for idempotency: its deterministic serialisation, key excluded."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("idempotency_key")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


class TrialService(pb_grpc.TrialServiceServicer):
    """Translates TrialService calls to the trial store and the engine."""

    def __init__(self, store: TrialStore) -> None:
        self.store = store
        self.locks = KeyedLocks()
        # One lock per (caller, method, idempotency key), held to the commit: concurrent duplicates of a
        # request (a client retrying before the first attempt answered) wait, then get the replay.
        self.key_locks = KeyedLocks()
        self.designs: dict[str, Selector] = {}
        self.cache = StateCache()

    # Reads.
    def load(self, trial_id: str, context: grpc.ServicerContext) -> tuple[model.TrialState, list[model.Event]]:
        """The trial's state and its whole history; ``NOT_FOUND`` if there is none."""
        if not trial_id:
            raise InputError("trial_id", "is required")
        events = self.store.events(trial_id)
        state = model.fold(events)
        if state is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no trial {trial_id!r}")
        self.cache.put(state)
        return state, events

    def state(self, trial_id: str, context: grpc.ServicerContext) -> model.TrialState:
        """The trial's state at its committed version; ``NOT_FOUND`` if there is none.

        A cached state catches up by folding only the events committed since; one newer than the
        committed version is never served (the store, not the cache, says what is durable).
        """
        if not trial_id:
            raise InputError("trial_id", "is required")
        cached = self.cache.get(trial_id)
        if cached is not None:
            latest, newer = self.store.tail(trial_id, cached.version)
            if latest >= cached.version:
                state = model.fold(newer, cached) if newer else cached
                assert state is not None
                self.cache.put(state)
                return state
        return self.load(trial_id, context)[0]

    def design(self, state: model.TrialState) -> Selector:
        """The trial's locked design, built once per design hash."""
        digest = state.created["design_sha256"]
        design = self.designs.get(digest)
        if design is None:
            design = design_from_proto(json_format.ParseDict(state.created["design"], design_pb2.Design()))
            self.designs[digest] = design
        return design

    @staticmethod
    def created_message(state: model.TrialState) -> pb.TrialCreated:
        """The trial's creation event as a message, parsed once per trial (do not modify it)."""
        created = state.constant.get("created")
        if created is None:
            created = state.constant["created"] = json_format.ParseDict(state.created, pb.TrialCreated())
        return created

    def trial_message(self, state: model.TrialState) -> pb.Trial:
        """The trial as the API shows it: its registration (built once per trial) and its current state."""
        registration = state.constant.get("trial")
        if registration is None:
            created = self.created_message(state)
            registration = pb.Trial(
                trial_id=state.trial_id, protocol_id=created.protocol_id, dose_labels=created.dose_labels,
                design=created.design, design_sha256=created.design_sha256, metadata=created.metadata,
                created_by=state.created_by)
            registration.created_at.FromJsonString(state.created_at)
            state.constant["trial"] = registration
        trial = pb.Trial()
        trial.CopyFrom(registration)
        trial.status = pb.TRIAL_STATUS_OPEN if state.is_open else pb.TRIAL_STATUS_CLOSED
        trial.version, trial.num_patients = state.version, len(state.patients)
        return trial

    def decision(self, state: model.TrialState, request: Any = None) -> Decision:
        """The decision at ``state``; the one without extra quantiles or thresholds is computed once per state."""
        extras = (tuple(getattr(request, "quantiles", ())), tuple(getattr(request, "tox_thresholds", ())),
                  tuple(getattr(request, "eff_thresholds", ())))
        if any(extras):
            return decide(self.design(state), state.outcomes(), *extras)
        decision = state.derived.get("decision")
        if decision is None:
            decision = state.derived["decision"] = decide(self.design(state), state.outcomes())
        return decision

    @staticmethod
    def event_message(event: model.Event) -> pb.TrialEvent:
        entry = pb.TrialEvent(version=event.version, author=event.author, audit_sequence=event.audit_sequence)
        entry.recorded_at.FromJsonString(event.recorded_at)
        json_format.ParseDict(event.payload, getattr(entry, event.kind))
        return entry

    def history(self, state: model.TrialState) -> tuple[pb.TrialEvent, ...]:
        """Events 1..``state.version`` as messages; those converted before are kept with the trial."""
        known: tuple[pb.TrialEvent, ...] = state.constant.get("history", ())
        if len(known) < state.version:
            newer = self.store.events(state.trial_id, after=len(known))
            known = known + tuple(self.event_message(e) for e in newer)
            if len(known) > len(state.constant.get("history", ())):
                state.constant["history"] = known
        return known[:state.version]

    def GetTrial(self, request: pb.GetTrialRequest, context: grpc.ServicerContext) -> pb.GetTrialResponse:
        state = self.state(request.trial_id, context)
        response = pb.GetTrialResponse(trial=self.trial_message(state), outcome_string=state.outcomes().to_string())
        response.events.extend(self.history(state))
        return response

    def ListTrials(self, request: pb.ListTrialsRequest, context: grpc.ServicerContext) -> pb.ListTrialsResponse:
        size = request.page_size or 50
        if not 1 <= size <= MAX_PAGE:
            raise InputError("page_size", f"{size} is outside 1..{MAX_PAGE}")
        if request.page_token and not self.store.has_trial(request.page_token):
            raise InputError("page_token", "is not a token this service handed out; start again without one")
        ids = self.store.trial_ids(size + 1, request.page_token or None)
        response = pb.ListTrialsResponse()
        for trial_id in ids[:size]:
            response.trials.append(self.trial_message(self.state(trial_id, context)))
        if len(ids) > size:
            response.next_page_token = ids[size - 1]
        return response

    def GetDecision(self, request: pb.GetDecisionRequest, context: grpc.ServicerContext) -> pb.GetDecisionResponse:
        state = self.state(request.trial_id, context)
        call = current_call()
        call.trial_id, call.design_sha256 = state.trial_id, state.created["design_sha256"]
        return self.decision_response(state, request)

    def decision_response(self, state: model.TrialState, request: pb.GetDecisionRequest) -> pb.GetDecisionResponse:
        """The decision with the trial's conduct (backfill, expansion) added; replay re-derives it the same way."""
        decision = self.decision(state, request)
        response = pb.GetDecisionResponse(trial=self.trial_message(state), decision=decision_to_proto(decision))
        plan = self.backfill_plan(state)
        if plan is not None:
            doses = backfilling.backfill_doses(plan, state.outcomes(), decision.recommended_dose,
                                               len(decision.doses))
            for dose in doses:
                response.backfill.add(dose=dose.dose, open=dose.open, backfilled=dose.backfilled, reason=dose.reason)
            opened = [str(d.dose) for d in doses if d.open] if decision.continues else []
            self.trace_step(response.decision, "backfill", "backfill: " + (
                f"open at doses {', '.join(opened)}" if opened else "no dose is open for backfill"))
        expansion = self.expansion_plan(state)
        if expansion is not None:
            for stratum in expansion.strata:
                assigned = [a.dose for a in state.assigned(EXPANSION, stratum)]
                balance = response.expansion.add(stratum=stratum)
                for arm in expansion.arms:
                    balance.arms.add(dose=arm, assigned=assigned.count(arm))
            total = len(state.assigned(EXPANSION))
            self.trace_step(response.decision, "expansion",
                            f"expansion: {total} patients randomised between doses "
                            f"{', '.join(map(str, expansion.arms))} in {len(expansion.strata)} strata")
        return response

    @staticmethod
    def trace_step(decision: Any, stage: str, reason: str) -> None:
        """A trial-conduct step after the design's own steps (it does not change the decision)."""
        decision.trace.add(index=len(decision.trace), stage=stage, continue_trial=decision.continue_trial,
                           reason=reason, **({"dose": decision.recommended_dose}
                                             if decision.HasField("recommended_dose") else {}))

    def backfill_plan(self, state: model.TrialState) -> backfilling.BackfillPlan | None:
        created = self.created_message(state)
        return backfill_plan(get_optional(created, "backfill"))

    def expansion_plan(self, state: model.TrialState) -> expanding.ExpansionPlan | None:
        created = self.created_message(state)
        return expansion_plan(get_optional(created, "expansion"))

    def AssignPatient(self, request: pb.AssignPatientRequest, context: grpc.ServicerContext
                      ) -> pb.AssignPatientResponse:
        return self.write_event(request, context, pb.AssignPatientResponse, self.assignment_event)

    def assignment_event(self, request: pb.AssignPatientRequest, state: model.TrialState) -> tuple[str, Message]:
        phase = model.phase_word(outcomes_pb2.TreatmentPhase.Name(request.phase))
        if not request.patient_id:
            raise InputError("patient_id", "is required")
        if request.patient_id in state.patients or request.patient_id in state.assignments:
            raise InputError("patient_id", f"patient {request.patient_id!r} is already in the trial")
        seed = self.store.allocation_seed(state.trial_id)
        if phase == BACKFILL:
            plan = self.backfill_plan(state)
            if plan is None:
                raise InputError("phase", "this trial has no backfill plan")
            decision = self.decision(state)
            if not decision.continues:
                raise InputError("phase", "escalation has stopped: backfill is closed")
            index = len(state.assigned(BACKFILL))
            doses = backfilling.backfill_doses(plan, state.outcomes(), decision.recommended_dose,
                                               len(decision.doses))
            dose = backfilling.allocate([d.dose for d in doses if d.open], seed, index)
            stratum = ""
        elif phase == EXPANSION:
            plan_e = self.expansion_plan(state)
            if plan_e is None:
                raise InputError("phase", "this trial has no expansion plan")
            stratum = request.stratum or plan_e.strata[0]
            index = len(state.assigned(EXPANSION, stratum))
            dose = expanding.assignment(plan_e, seed, stratum, index)
        else:
            raise InputError("phase", "assign to TREATMENT_PHASE_BACKFILL or TREATMENT_PHASE_EXPANSION")
        assigned = pb.PatientAssigned(patient_id=request.patient_id, phase=request.phase, dose=dose,
                                      stratum=stratum, index=index)
        return model.ASSIGNED, assigned

    # Writes.
    def CreateTrial(self, request: pb.CreateTrialRequest, context: grpc.ServicerContext) -> pb.CreateTrialResponse:
        replay = self.replay(request, pb.CreateTrialResponse)
        if replay is not None:
            return replay
        if not request.protocol_id:
            raise InputError("protocol_id", "is required")
        design = design_from_proto(request.design)
        if len(request.dose_labels) not in (0, design.num_doses or len(request.dose_labels)):
            raise InputError("dose_labels", f"{len(request.dose_labels)} labels for {design.num_doses} doses")
        distinct_names(request.dose_labels, lambda index: f"dose_labels[{index}]")
        distinct_names([entry.key for entry in request.metadata], lambda index: f"metadata[{index}].key")
        digest = design_sha256(request.design)
        backfill_plan(get_optional(request, "backfill"))
        plan = expansion_plan(get_optional(request, "expansion"))
        if plan is not None and design.num_doses is not None and max(plan.arms) > design.num_doses:
            raise InputError("expansion.arms", f"dose {max(plan.arms)} is outside 1..{design.num_doses}")
        seed = secrets.randbits(63)
        created = pb.TrialCreated(protocol_id=request.protocol_id, dose_labels=request.dose_labels,
                                  design=request.design, design_sha256=digest, metadata=request.metadata,
                                  allocation_seed_sha256=hashlib.sha256(str(seed).encode()).hexdigest())
        if request.HasField("backfill"):
            created.backfill.CopyFrom(request.backfill)
        if request.HasField("expansion"):
            created.expansion.CopyFrom(request.expansion)
        trial_id = f"trial-{uuid.uuid4().hex}"
        call = current_call()
        call.trial_id, call.design_sha256 = trial_id, digest
        now = utc_now()
        state = model.TrialState(trial_id, as_dict(created), now, call.principal.name, version=1)
        response = pb.CreateTrialResponse(trial=self.trial_message(state))
        call.write(self.store.trial_row(trial_id, request.protocol_id, now))
        call.write(self.store.secret_row(trial_id, seed))
        self.append(state, model.CREATED, created, now)
        self.remember(request)
        return response

    def RecordOutcomes(self, request: pb.RecordOutcomesRequest, context: grpc.ServicerContext
                       ) -> pb.RecordOutcomesResponse:
        return self.write_event(request, context, pb.RecordOutcomesResponse, self.cohort_event)

    def CorrectOutcome(self, request: pb.CorrectOutcomeRequest, context: grpc.ServicerContext
                       ) -> pb.CorrectOutcomeResponse:
        return self.write_event(request, context, pb.CorrectOutcomeResponse, self.correction_event)

    def CloseTrial(self, request: pb.CloseTrialRequest, context: grpc.ServicerContext) -> pb.CloseTrialResponse:
        return self.write_event(request, context, pb.CloseTrialResponse, self.closure_event)

    def write_event(self, request: Any, context: grpc.ServicerContext, response_type: type,
                    make_event: Callable[[Any, model.TrialState], tuple[str, Message]]) -> Any:
        """The common path of every write to an existing trial."""
        call = current_call()
        if not request.trial_id:
            raise InputError("trial_id", "is required")
        if request.expected_version < 1:
            raise InputError("expected_version", f"{request.expected_version} is not a trial version (1 or more): "
                                                 "send the version last read")
        call.hold(self.locks[request.trial_id])
        replay = self.replay(request, response_type)
        if replay is not None:
            return replay
        state = self.state(request.trial_id, context)
        call.trial_id, call.design_sha256 = state.trial_id, state.created["design_sha256"]
        if request.expected_version != state.version:
            context.abort(grpc.StatusCode.ABORTED,
                          f"trial {state.trial_id} is at version {state.version}, not {request.expected_version}: "
                          "read it again and retry")
        if not state.is_open:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"trial {state.trial_id} is closed")
        kind, event = make_event(request, state)
        now = utc_now()
        payload = as_dict(event)
        after = model.fold(
            [model.Event(state.trial_id, state.version + 1, kind, payload, now, call.principal.name, 0)], state)
        assert after is not None
        response = response_type(trial=self.trial_message(after))
        if "decision" in response_type.DESCRIPTOR.fields_by_name:
            response.decision.CopyFrom(decision_to_proto(self.decision(after)))
        if "assignment" in response_type.DESCRIPTOR.fields_by_name:
            response.assignment.CopyFrom(event)
        self.append(after, kind, event, now, payload)
        self.remember(request)
        call.after_commit(lambda: self.cache.put(after))
        return response

    def cohort_event(self, request: pb.RecordOutcomesRequest, state: model.TrialState) -> tuple[str, Message]:
        if not request.patients:
            raise InputError("patients", "a cohort has at least one patient")
        design = self.design(state)
        num_doses = design.num_doses or max(request.dose, state.outcomes().max_dose)
        if not 1 <= request.dose <= num_doses:
            raise InputError("dose", f"dose {request.dose} is outside 1..{num_doses}")
        seen: set[str] = set()
        for index, patient in enumerate(request.patients):
            where = f"patients[{index}]"
            if not patient.patient_id:
                raise InputError(f"{where}.patient_id", "is required")
            if patient.patient_id in seen:
                raise InputError(f"{where}.patient_id", f"patient {patient.patient_id!r} appears twice in this cohort")
            if patient.patient_id in state.patients:
                raise InputError(f"{where}.patient_id", f"patient {patient.patient_id!r} is already recorded; "
                                 "use CorrectOutcome to change an outcome")
            seen.add(patient.patient_id)
            if patient.dose not in (0, request.dose):
                raise InputError(f"{where}.dose", f"dose {patient.dose} differs from the cohort's dose {request.dose}")
        check_patients([patient_from_proto(p, request.dose) for p in request.patients], num_doses,
                       efficacy=design.efficacy)
        phase = model.phase_word(outcomes_pb2.TreatmentPhase.Name(request.phase))
        if phase != ESCALATION:
            return model.COHORT, self.assigned_cohort(request, state, phase)
        now = self.decision(state)
        recommended = now.recommended_dose
        allowed = recommended == request.dose and now.continues
        if not allowed and not request.deviation:
            wanted = f"dose {recommended}" if recommended is not None else "no dose (the design stops)"
            raise InputError("dose", f"the design recommends {wanted}, not dose {request.dose}; "
                             "set deviation and deviation_reason to record it as a protocol deviation")
        if request.deviation and not request.deviation_reason.strip():
            raise InputError("deviation_reason", "a deviation needs a reason")
        event = pb.CohortRecorded(dose=request.dose, deviation=not allowed,
                                  deviation_reason=request.deviation_reason if not allowed else "")
        for patient in request.patients:
            recorded = event.patients.add()
            recorded.CopyFrom(patient)
            recorded.dose = request.dose
        if recommended is not None:
            event.recommended_dose = recommended
        current_call().reason = event.deviation_reason or None
        return model.COHORT, event

    @staticmethod
    def assigned_cohort(request: pb.RecordOutcomesRequest, state: model.TrialState, phase: str) -> Message:
        """A backfill or expansion cohort: every patient must have been assigned to this phase and dose."""
        for index, patient in enumerate(request.patients):
            assigned = state.assignments.get(patient.patient_id)
            if assigned is None or assigned.phase != phase:
                raise InputError(f"patients[{index}].patient_id",
                                 f"patient {patient.patient_id!r} was not assigned to {phase} (use AssignPatient)")
            if assigned.dose != request.dose:
                raise InputError("dose", f"patient {patient.patient_id!r} was assigned dose {assigned.dose}, "
                                 f"not dose {request.dose}")
        event = pb.CohortRecorded(dose=request.dose)
        for patient in request.patients:
            recorded = event.patients.add()
            recorded.CopyFrom(patient)
            recorded.dose, recorded.phase = request.dose, request.phase
        return event

    def correction_event(self, request: pb.CorrectOutcomeRequest, state: model.TrialState) -> tuple[str, Message]:
        current = state.patients.get(request.patient_id)
        if current is None:
            raise InputError("patient_id", f"no patient {request.patient_id!r} in trial {state.trial_id}")
        if not request.reason.strip():
            raise InputError("reason", "a correction needs a reason")
        if not request.HasField("corrected"):
            raise InputError("corrected", "is required: the patient's corrected outcome")
        corrected = outcomes_pb2.PatientOutcome()
        corrected.CopyFrom(request.corrected)
        corrected.patient_id = request.patient_id
        corrected.dose = corrected.dose or current.dose
        if corrected.dose != current.dose:
            raise InputError("corrected.dose", "a patient's dose cannot be corrected; the given dose is the record")
        design = self.design(state)
        check_patient(patient_from_proto(corrected, current.dose), design.num_doses or current.dose, "corrected",
                      efficacy=design.efficacy)
        if (corrected.toxicity, get_optional(corrected, "efficacy"), get_optional(corrected, "weight")) == \
                (current.toxicity, current.efficacy, current.weight):
            raise InputError("corrected", f"is the outcome recorded for {request.patient_id} already; "
                                          "a correction changes it")
        call = current_call()
        call.reason = request.reason
        call.corrects_seq = next((e.audit_sequence for e in self.store.events(state.trial_id)
                                  if e.version == current.recorded_version), None)
        return model.CORRECTION, pb.OutcomeCorrected(patient_id=request.patient_id, corrected=corrected,
                                                     reason=request.reason,
                                                     supersedes_version=current.recorded_version)

    def closure_event(self, request: pb.CloseTrialRequest, state: model.TrialState) -> tuple[str, Message]:
        if not request.reason.strip():
            raise InputError("reason", "closing a trial needs a reason")
        current_call().reason = request.reason
        return model.CLOSED, pb.TrialClosed(reason=request.reason)

    # Idempotency and the audited commit.
    def replay(self, request: Any, response_type: type) -> Any:
        """The original answer to a retried write, or ``None`` for a new one."""
        call = current_call()
        if not request.idempotency_key:
            raise InputError("idempotency_key", "every write carries an idempotency key")
        call.hold(self.key_locks["\0".join((call.principal.name, call.method, request.idempotency_key))])
        found = self.store.idempotent_result(call.principal.name, call.method, request.idempotency_key)
        if found is None:
            return None
        if found.request_sha256 != request_digest(request):
            raise InputError("idempotency_key", "this key was already used for a different request")
        response = response_type.FromString(found.response)
        response.audit.sequence = found.audit_sequence
        response.audit.leaf_hash = found.audit_leaf_hash
        response.replayed = True
        call.writes.clear()
        return response

    def append(self, state: model.TrialState, kind: str, event: Message, now: str,
               payload: dict[str, Any] | None = None) -> None:
        call = current_call()
        payload = as_dict(event) if payload is None else payload
        call.write(self.store.event_row(state.trial_id, state.version, kind, payload, now, call.principal.name))

    def remember(self, request: Any) -> None:
        """Keep the write's key and request; a retry is answered from the call's audit record (its response)."""
        call = current_call()
        call.write(self.store.idempotent_row(call.principal.name, call.method, request.idempotency_key,
                                             request_digest(request)))
