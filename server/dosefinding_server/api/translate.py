"""Translation between ``dosefinding.v1`` messages and the engine's plain data.

Stage messages carry the engine's parameter names, so a design translates
generically: the set field of the ``Stage`` oneof names the stage kind, every
set field of its message becomes a parameter (enums by their lower-case
suffix, ``DoseRef`` as a level or "recommended"/"any"), and unset optional
fields leave the R default in place.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from dosefinding.v1 import decision_pb2, design_pb2, outcomes_pb2
from dosefinding_client.words import enum_word
from dosefinding_server.engine.decision import Decision
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.outcomes import Outcomes, Patient, check_patients, parse_outcome_string
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.selector import Selector


def message_params(message: Message) -> dict[str, Any]:
    """The set fields of a parameter message as engine keyword arguments."""
    params: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_ENUM:
            word = enum_word(field.enum_type, value)
            if word is not None:
                params[field.name] = word
        elif field.message_type is design_pb2.DoseRef.DESCRIPTOR:
            params[field.name] = dose_ref(value)
        elif field.is_repeated:
            params[field.name] = tuple(value)
        else:
            params[field.name] = value
    return params


def dose_ref(ref: design_pb2.DoseRef) -> int | str:
    which = ref.WhichOneof("ref")
    if which == "level":
        return ref.level
    word = enum_word(design_pb2.DoseSelector.DESCRIPTOR, ref.selector) if which else None
    if word is None:
        raise InputError("dose", "set a dose level or DOSE_SELECTOR_RECOMMENDED / DOSE_SELECTOR_ANY")
    return word


def design_stages(design: design_pb2.Design) -> list[dict[str, Any]]:
    """The design as the engine's list of ``{"stage": kind, **parameters}``."""
    stages = []
    for index, stage in enumerate(design.stages):
        kind = stage.WhichOneof("kind")
        if kind is None:
            raise InputError(f"design.stages[{index}]", "no stage kind is set")
        try:
            stages.append({"stage": kind, **message_params(getattr(stage, kind))})
        except InputError as err:
            raise err.prefixed(f"design.stages[{index}].{kind}") from None
    return stages


def design_from_proto(design: design_pb2.Design) -> Selector:
    return build_design(design_stages(design))


def design_sha256(design: design_pb2.Design) -> str:
    """SHA-256 of the design's canonical JSON (proto JSON mapping, RFC 8785 canonicalisation)."""
    as_json = json_format.MessageToDict(design, preserving_proto_field_name=True)
    return hashlib.sha256(rfc8785.dumps(as_json)).hexdigest()


def outcomes_from_proto(outcomes: outcomes_pb2.Outcomes, design: Selector,
                        field: str = "outcomes") -> Outcomes:
    """Parse and check the outcomes against the design's doses and outcome kinds."""
    source = outcomes.WhichOneof("source")
    if source == "records":
        patients = [patient_from_proto(p, p.dose, cohort=p.cohort or index + 1)
                    for index, p in enumerate(outcomes.records.patients)]
        num_doses = design.num_doses or max((p.dose for p in patients), default=0)
        return check_patients(patients, num_doses, field=f"{field}.records.patients",
                              efficacy=design.efficacy)
    text = outcomes.outcome_string if source == "outcome_string" else ""
    return parse_outcome_string(text, design.num_doses, field=f"{field}.outcome_string",
                                efficacy=design.efficacy)


def patient_from_proto(outcome: outcomes_pb2.PatientOutcome, dose: int, cohort: int = 1) -> Patient:
    """The engine's patient for a reported outcome, treated at ``dose``."""
    return Patient(dose=dose, toxicity=outcome.toxicity, efficacy=get_optional(outcome, "efficacy"), cohort=cohort,
                   weight=get_optional(outcome, "weight"))


def get_optional(message: Message, name: str, default: Any = None) -> Any:
    """An optional field's value, or ``default`` when it is absent (``None``: R's NA; or R's default)."""
    return getattr(message, name) if message.HasField(name) else default


def set_optional(message: Message, name: str, value: Any) -> None:
    """Set an optional field, leaving it absent for ``None`` (R's NA)."""
    if value is not None:
        setattr(message, name, value)


#: The optional fields of a dose summary and of a trace step that mirror the engine's attributes.
_OPTIONAL_SUMMARIES = ("efficacies", "admissible", "mean_prob_tox", "median_prob_tox", "mean_prob_eff",
                       "median_prob_eff", "utility")
_OPTIONAL_STEPS = ("received_dose", "received_continue", "dose")


def present(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``source``'s attributes ``names`` that are not ``None`` (R's NA), to set as optional fields at once."""
    return {name: value for name in names if (value := getattr(source, name)) is not None}


def decision_to_proto(decision: Decision) -> decision_pb2.Decision:
    message = decision_pb2.Decision(
        continue_trial=decision.continues,
        num_patients=decision.num_patients,
        warnings=list(decision.warnings),
    )
    if decision.recommended_dose is not None:
        message.recommended_dose = decision.recommended_dose
    for dose in decision.doses:
        summary = message.doses.add(dose=dose.dose, patients=dose.patients, toxicities=dose.toxicities,
                                    **present(dose, _OPTIONAL_SUMMARIES))
        for p, value in zip(decision.quantile_levels, dose.prob_tox_quantiles):
            set_optional(summary.prob_tox_quantiles.add(p=p), "value", value)
        for t, value in zip(decision.exceedance_thresholds, dose.prob_tox_exceeds):
            set_optional(summary.prob_tox_exceeds.add(threshold=t), "probability", value)
        for t, value in zip(decision.efficacy_thresholds, dose.prob_eff_exceeds):
            set_optional(summary.prob_eff_exceeds.add(threshold=t), "probability", value)
    for step in decision.trace:
        message.trace.add(index=step.index, stage=step.stage, continue_trial=step.continues, reason=step.reason,
                          warnings=list(step.warnings), **present(step, _OPTIONAL_STEPS))
    return message
