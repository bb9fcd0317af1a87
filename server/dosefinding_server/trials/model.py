"""A trial's state, derived by folding its append-only events (event sourcing).

Events are never changed: a cohort records patients, a correction supersedes
one patient's earlier record, a closure ends the trial.  Every event payload
is the proto JSON mapping of its message (``TrialCreated``, ``CohortRecorded``,
``OutcomeCorrected``, ``TrialClosed``), so the history reads the same in the
store, in exports and over the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ..engine.outcomes import BACKFILL, ESCALATION, EXPANSION, Outcomes, Patient

CREATED, COHORT, CORRECTION, CLOSED, ASSIGNED = "created", "cohort", "correction", "closed", "assigned"
_PHASES = {"TREATMENT_PHASE_BACKFILL": BACKFILL, "TREATMENT_PHASE_EXPANSION": EXPANSION}


def phase_word(proto_name: str | None) -> str:
    """The engine's phase for a proto ``TreatmentPhase`` name (unspecified means escalation)."""
    return _PHASES.get(proto_name or "", ESCALATION)


@dataclass(frozen=True)
class Event:
    """One stored event: the version it created, its kind, its payload and provenance."""

    trial_id: str
    version: int
    kind: str
    payload: dict[str, Any]
    recorded_at: str
    author: str
    audit_sequence: int


@dataclass(frozen=True)
class PatientState:
    """A patient as currently recorded (after any corrections)."""

    patient_id: str
    dose: int
    toxicity: bool
    efficacy: bool | None
    cohort: int
    weight: float | None
    recorded_version: int
    phase: str = ESCALATION


@dataclass(frozen=True)
class Assignment:
    """A backfill or expansion assignment, made before the patient's outcome is recorded."""

    patient_id: str
    phase: str
    dose: int
    stratum: str
    index: int


@dataclass
class TrialState:
    """Everything the service needs to decide for a trial, at one version."""

    trial_id: str
    created: dict[str, Any]
    created_at: str
    created_by: str
    version: int = 0
    closed_reason: str | None = None
    patients: dict[str, PatientState] = field(default_factory=dict)
    cohorts: int = 0
    assignments: dict[str, Assignment] = field(default_factory=dict)
    #: Values computed from this version once and kept (its outcomes, its default decision); a state
    #: is not changed once folded, and :func:`fold` onto it works on a copy with this emptied.
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Values computed from the creation event alone (e.g. it as a message); shared with copies.
    constant: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_open(self) -> bool:
        return self.closed_reason is None

    @property
    def design_stages(self) -> list[dict[str, Any]]:
        return self.created["design"]["stages"]

    def outcomes(self) -> Outcomes:
        """The patients in treatment order, as the engine fits them (built once per state)."""
        outcomes = self.derived.get("outcomes")
        if outcomes is None:
            outcomes = self.derived["outcomes"] = Outcomes(tuple(map(_engine_patient, self.patients.values())))
        return outcomes

    def copy(self) -> TrialState:
        """A copy to fold further events onto; this state stays as it is."""
        return replace(self, patients=dict(self.patients), assignments=dict(self.assignments), derived={})

    def assigned(self, phase: str, stratum: str | None = None) -> list[Assignment]:
        """Assignments made so far in ``phase`` (and ``stratum``), in order."""
        return [a for a in self.assignments.values()
                if a.phase == phase and (stratum is None or a.stratum == stratum)]


def _engine_patient(p: PatientState) -> Patient:
    return Patient(p.dose, p.toxicity, p.efficacy, p.cohort, p.weight, p.phase)


def _patient(record: dict[str, Any], cohort: int, version: int, dose: int) -> PatientState:
    return PatientState(
        patient_id=record.get("patient_id", ""),
        dose=int(record.get("dose") or dose),
        toxicity=bool(record.get("toxicity", False)),
        efficacy=record.get("efficacy"),
        cohort=cohort,
        weight=record.get("weight"),
        recorded_version=version,
        phase=phase_word(record.get("phase")),
    )


def fold(events: Iterable[Event], start: TrialState | None = None) -> TrialState | None:
    """The state after ``events`` (in version order); ``None`` for a trial that does not exist.

    With ``start``, the events are those after ``start.version`` and are folded onto a copy of it
    (``start`` itself is not changed): a cached state catches up without re-reading its history.
    """
    state: TrialState | None = start.copy() if start is not None else None
    # Cohorts only add patients at the end: the start's outcomes are extended rather than rebuilt.
    outcomes: Outcomes | None = start.derived.get("outcomes") if start is not None else None
    added: list[Patient] = []
    for event in events:
        if state is not None and event.version != state.version + 1:
            raise ValueError(f"trial {event.trial_id}: event {event.version} does not follow version {state.version}")
        if event.kind == CREATED:
            state = TrialState(event.trial_id, event.payload, event.recorded_at, event.author)
        elif state is None:
            raise ValueError(f"trial {event.trial_id}: event {event.version} precedes its creation")
        elif event.kind == COHORT:
            state.cohorts += 1
            dose = int(event.payload["dose"])
            for record in event.payload.get("patients", []):
                patient = _patient(record, state.cohorts, event.version, dose)
                if patient.patient_id in state.patients:
                    outcomes = None
                state.patients[patient.patient_id] = patient
                added.append(_engine_patient(patient))
        elif event.kind == CORRECTION:
            outcomes = None
            current = state.patients[event.payload["patient_id"]]
            corrected = _patient(event.payload["corrected"], current.cohort, event.version, current.dose)
            state.patients[current.patient_id] = replace(corrected, patient_id=current.patient_id)
        elif event.kind == CLOSED:
            state.closed_reason = event.payload.get("reason", "")
        elif event.kind == ASSIGNED:
            payload = event.payload
            state.assignments[payload["patient_id"]] = Assignment(
                payload["patient_id"], phase_word(payload.get("phase")), int(payload["dose"]),
                payload.get("stratum", ""), int(payload.get("index", 0)))
        state.version = event.version
    if state is not None and outcomes is not None:
        state.derived["outcomes"] = outcomes.appended(tuple(added)) if added else outcomes
        if not added and start is not None and "decision" in start.derived:
            # The same design on the same outcomes: an assignment or a closure does not refit the model.
            state.derived["decision"] = start.derived["decision"]
    return state
