"""Trial commands: create, record a cohort, correct, decision, show, list, close.

Writes read the trial's current version first unless ``--version`` is given,
and send a fresh idempotency key unless ``--idempotency-key`` is given.  To
retry a command safely, repeat it exactly: the same key, ``--version`` and
(for ``record``) ``--patients``; the service then answers with the original
result and applies nothing twice.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as pb

from ..client import DoseFindingClient
from ..designs import load_design
from ..files import PLAN_FILE, message_from, read_as, read_json
from ..words import word_enum
from . import numbers, render

_LETTERS = {"N": (False, None), "T": (True, None), "E": (False, True), "B": (True, True)}
TRIAL_ID = "the trial's id (as trial create printed it)"


def register(commands: Any) -> None:
    trial = commands.add_parser("trial", help="register trials, record cohorts, get decisions")
    sub = trial.add_subparsers(dest="trial_command", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="register a trial with its design locked")
    create.add_argument("--protocol", required=True, help="protocol identifier")
    create.add_argument("--design", required=True, help="design file")
    create.add_argument("--dose-labels", help="comma-separated labels, one per dose")
    create.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata stored with the trial (repeatable)")
    create.add_argument("--plan", help='JSON file with "backfill" and/or "expansion" plans (proto JSON mapping)')
    _write_options(create)
    create.set_defaults(handler=create_trial, render=lambda r: render_trial(r.trial))

    record = sub.add_parser("record", help="record a cohort's outcomes")
    record.add_argument("trial_id", help=TRIAL_ID)
    record.add_argument("--dose", type=numbers.int32, required=True,
                        help="the dose the cohort was given (1-based level)")
    record.add_argument("--outcomes", required=True, help='one letter per patient: N, T (phase I/II also E, B)')
    record.add_argument("--patients", help="comma-separated patient ids (default P001, P002, ... in order)")
    record.add_argument("--deviation-reason", help="record a dose the design did not recommend, with this reason")
    record.add_argument("--phase", choices=["escalation", "backfill", "expansion"], default="escalation",
                        help="backfill and expansion patients must have been assigned first (trial assign)")
    _write_options(record)
    record.set_defaults(handler=record_cohort, render=render_change)

    correct = sub.add_parser("correct", help="correct a patient's outcome (a new event; nothing is overwritten)")
    correct.add_argument("trial_id", help=TRIAL_ID)
    correct.add_argument("--patient", required=True, help="the patient whose outcome is corrected")
    correct.add_argument("--outcome", required=True, choices=sorted(_LETTERS), help="the corrected outcome letter")
    correct.add_argument("--reason", required=True, help="why, for the audit trail")
    _write_options(correct)
    correct.set_defaults(handler=correct_outcome, render=render_change)

    assign = sub.add_parser("assign", help="assign a patient to backfill or randomised expansion (concealed until now)")
    assign.add_argument("trial_id", help=TRIAL_ID)
    assign.add_argument("--patient", required=True, help="the arriving patient's id")
    assign.add_argument("--phase", required=True, choices=["backfill", "expansion"], help="where the patient goes")
    assign.add_argument("--stratum", help="expansion stratum (default: the plan's first)")
    _write_options(assign)
    assign.set_defaults(handler=assign_patient, render=render_assignment)

    decision = sub.add_parser("decision", help="the current decision with its trace")
    decision.add_argument("trial_id", help=TRIAL_ID)
    decision.add_argument("--quantile", type=float, action="append", dest="quantiles",
                          help="toxicity quantile to report (repeatable; default 0.05 and 0.95)")
    decision.add_argument("--exceeds", type=float, action="append", dest="thresholds",
                          help="report P(toxicity > T) (repeatable)")
    decision.set_defaults(handler=get_decision, render=render_decision)

    show = sub.add_parser("show", help="the trial and its full event history")
    show.add_argument("trial_id", help=TRIAL_ID)
    show.set_defaults(handler=show_trial, render=render_history)

    listing = sub.add_parser("list", help="trials, newest first")
    listing.add_argument("--page-size", type=numbers.int32, default=50,
                         help="the most trials to show, newest first (1 to 500)")
    listing.add_argument("--page-token", default="",
                         help="where the page before ended (as that listing printed it)")
    listing.set_defaults(handler=list_trials, render=render_list)

    close = sub.add_parser("close", help="close a trial with a reason")
    close.add_argument("trial_id", help=TRIAL_ID)
    close.add_argument("--reason", required=True, help="why, for the audit trail")
    _write_options(close)
    close.set_defaults(handler=close_trial, render=lambda r: render_trial(r.trial))


def _write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--idempotency-key", help="reuse to retry safely (default: a new key)")
    parser.add_argument("--version", type=numbers.int64, help="the trial version last seen (default: read it now)")


def _key(args: argparse.Namespace) -> str:
    return args.idempotency_key or uuid.uuid4().hex


def _current(client: DoseFindingClient, trial_id: str) -> pb.Trial:
    return client.call(client.trials.GetTrial, pb.GetTrialRequest(trial_id=trial_id)).trial


def _version(client: DoseFindingClient, args: argparse.Namespace) -> int:
    return args.version if args.version is not None else _current(client, args.trial_id).version


def create_trial(client: DoseFindingClient, args: argparse.Namespace) -> pb.CreateTrialResponse:
    metadata = []
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--meta {item!r}: expected KEY=VALUE")
        metadata.append(pb.MetadataEntry(key=key, value=value))
    request = pb.CreateTrialRequest(
        protocol_id=args.protocol, design=load_design(args.design), metadata=metadata,
        dose_labels=[s.strip() for s in args.dose_labels.split(",")] if args.dose_labels else [],
        idempotency_key=_key(args))
    if args.plan:
        plan = read_json(args.plan, PLAN_FILE)
        read_as(lambda: message_from(plan, ("backfill", "expansion"), request), args.plan, PLAN_FILE)
    return client.call(client.trials.CreateTrial, request)


def _phase(word: str) -> int:
    return word_enum(outcomes_pb2.TreatmentPhase.DESCRIPTOR, word)


def assign_patient(client: DoseFindingClient, args: argparse.Namespace) -> pb.AssignPatientResponse:
    request = pb.AssignPatientRequest(trial_id=args.trial_id, expected_version=_version(client, args),
                                      idempotency_key=_key(args), patient_id=args.patient,
                                      phase=_phase(args.phase), stratum=args.stratum or "")
    return client.call(client.trials.AssignPatient, request)


def render_assignment(response: pb.AssignPatientResponse) -> str:
    a = response.assignment
    where = f" (stratum {a.stratum}, #{a.index + 1})" if a.stratum else f" (backfill allocation #{a.index + 1})"
    return (f"patient {a.patient_id} -> dose {a.dose}{where}\n{render_trial(response.trial)}\n"
            f"audit record {response.audit.sequence}")


def render_decision(response: pb.GetDecisionResponse) -> str:
    lines = [render.decision(response.decision)]
    if response.backfill:
        lines += ["", "Backfill:"] + [f"  dose {b.dose}: {b.reason}" for b in response.backfill]
    if response.expansion:
        lines += ["", "Expansion (patients per arm):"] + [
            f"  {s.stratum}: " + ", ".join(f"dose {a.dose}: {a.assigned}" for a in s.arms) for s in response.expansion]
    return "\n".join(lines)


def _patient(letter: str, patient_id: str) -> outcomes_pb2.PatientOutcome:
    """One patient's outcome from its letter (one of :data:`_LETTERS`, as the options accept)."""
    toxicity, efficacy = _LETTERS[letter]
    patient = outcomes_pb2.PatientOutcome(patient_id=patient_id, toxicity=toxicity)
    if efficacy is not None:
        patient.efficacy = efficacy
    return patient


def record_cohort(client: DoseFindingClient, args: argparse.Namespace) -> pb.RecordOutcomesResponse:
    letters = args.outcomes.strip().upper()
    for position, letter in enumerate(letters, 1):
        if letter not in _LETTERS:
            raise ValueError(f"--outcomes {args.outcomes!r}: position {position}: {letter!r} is not one of "
                             f"{', '.join(sorted(_LETTERS))}")
    ids = [p.strip() for p in args.patients.split(",")] if args.patients else None
    if ids is not None and len(ids) != len(letters):
        raise ValueError(f"--patients: {len(ids)} patient ids for the {len(letters)} outcomes of --outcomes")
    trial = _current(client, args.trial_id)
    ids = ids or [f"P{trial.num_patients + i + 1:03d}" for i in range(len(letters))]
    request = pb.RecordOutcomesRequest(
        trial_id=args.trial_id, expected_version=args.version if args.version is not None else trial.version,
        idempotency_key=_key(args), dose=args.dose,
        patients=[_patient(letter, pid) for letter, pid in zip(letters, ids)],
        deviation=bool(args.deviation_reason), deviation_reason=args.deviation_reason or "",
        phase=_phase(args.phase))
    return client.call(client.trials.RecordOutcomes, request)


def correct_outcome(client: DoseFindingClient, args: argparse.Namespace) -> pb.CorrectOutcomeResponse:
    request = pb.CorrectOutcomeRequest(
        trial_id=args.trial_id, expected_version=_version(client, args), idempotency_key=_key(args),
        patient_id=args.patient, corrected=_patient(args.outcome, args.patient), reason=args.reason)
    return client.call(client.trials.CorrectOutcome, request)


def get_decision(client: DoseFindingClient, args: argparse.Namespace) -> pb.GetDecisionResponse:
    request = pb.GetDecisionRequest(trial_id=args.trial_id, quantiles=args.quantiles or [0.05, 0.95],
                                    tox_thresholds=args.thresholds or [])
    return client.call(client.trials.GetDecision, request)


def show_trial(client: DoseFindingClient, args: argparse.Namespace) -> pb.GetTrialResponse:
    return client.call(client.trials.GetTrial, pb.GetTrialRequest(trial_id=args.trial_id))


def list_trials(client: DoseFindingClient, args: argparse.Namespace) -> pb.ListTrialsResponse:
    return client.call(client.trials.ListTrials,
                       pb.ListTrialsRequest(page_size=args.page_size, page_token=args.page_token))


def close_trial(client: DoseFindingClient, args: argparse.Namespace) -> pb.CloseTrialResponse:
    request = pb.CloseTrialRequest(trial_id=args.trial_id, expected_version=_version(client, args),
                                   idempotency_key=_key(args), reason=args.reason)
    return client.call(client.trials.CloseTrial, request)


def render_trial(trial: pb.Trial) -> str:
    status = pb.TrialStatus.Name(trial.status).removeprefix("TRIAL_STATUS_").lower()
    return (f"trial {trial.trial_id}  protocol {trial.protocol_id}  {status}  version {trial.version}  "
            f"patients {trial.num_patients}\ndesign sha256 {trial.design_sha256}")


def render_change(response: Any) -> str:
    replay = "  (a retry: the original answer)" if response.replayed else ""
    return (f"{render_trial(response.trial)}\naudit record {response.audit.sequence}{replay}\n\n"
            + render.decision(response.decision))


def _event_summary(event: pb.TrialEvent) -> str:
    kind = event.WhichOneof("kind")
    if kind == "cohort":
        letters = "".join(("B" if p.efficacy else "T") if p.toxicity else ("E" if p.efficacy else "N")
                          for p in event.cohort.patients)
        note = f"  DEVIATION: {event.cohort.deviation_reason}" if event.cohort.deviation else ""
        patients = ", ".join(p.patient_id for p in event.cohort.patients)
        return f"cohort at dose {event.cohort.dose}: {letters} ({patients}){note}"
    if kind == "correction":
        c = event.correction
        return (f"correction of {c.patient_id} (recorded in version {c.supersedes_version}): "
                f"toxicity {'yes' if c.corrected.toxicity else 'no'}; reason: {c.reason}")
    if kind == "closed":
        return f"closed: {event.closed.reason}"
    if kind == "assigned":
        a = event.assigned
        phase = outcomes_pb2.TreatmentPhase.Name(a.phase).removeprefix("TREATMENT_PHASE_").lower()
        return f"{a.patient_id} assigned to {phase} at dose {a.dose}" + (f" (stratum {a.stratum})" if a.stratum else "")
    return f"created: protocol {event.created.protocol_id}, design {event.created.design_sha256[:16]}..."


def render_history(response: pb.GetTrialResponse) -> str:
    rows = [[e.version, e.recorded_at.ToJsonString(), e.author, e.audit_sequence, _event_summary(e)]
            for e in response.events]
    return (f"{render_trial(response.trial)}\noutcomes: {response.outcome_string or '(none)'}\n\n"
            + render.table(["version", "recorded at (UTC)", "author", "audit", "event"], rows))


def render_list(response: pb.ListTrialsResponse) -> str:
    rows = [[t.trial_id, t.protocol_id, pb.TrialStatus.Name(t.status).removeprefix("TRIAL_STATUS_").lower(),
             t.version, t.num_patients] for t in response.trials]
    listing = render.table(["trial", "protocol", "status", "version", "patients"], rows)
    if response.next_page_token:
        listing += f"\nmore trials: trial list --page-token {response.next_page_token}"
    return listing
