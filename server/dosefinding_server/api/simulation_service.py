"""``dosefinding.v1.SimulationService``: dose paths and Monte Carlo simulation.

Translation only: requests become engine objects (:mod:`..engine.simulation`),
engine results become messages.  ``SimulateTrials`` streams a progress
message as each chunk of trials finishes, then the result.  Its conducts
reuse the trial service's backfill and expansion plans (and their
translation), so a simulated plan is the plan a trial would register.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import grpc

from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import design_pb2, outcomes_pb2
from dosefinding.v1 import simulation_service_pb2 as pb
from dosefinding.v1 import simulation_service_pb2_grpc as pb_grpc
from dosefinding_client.words import enum_word, word_enum
from dosefinding_server.engine.errors import FieldViolation, InputError
from dosefinding_server.engine.outcomes import PHASES
from dosefinding_server.engine.paths import dose_paths
from dosefinding_server.engine.selector import Selector
from dosefinding_server.engine.simulation import (
    ESCALATION_ONLY,
    BackfillArrivals,
    BoinOcDesign,
    Conduct,
    ConductContrast,
    CrmSimDesign,
    Estimate,
    ExpansionCohort,
    Progress,
    Scenario,
    TrialSettings,
    Trials,
    crmsim,
    final,
    get_oc,
    shared_runner,
    simulate_designs,
)
from dosefinding_server.engine.simulation.scenario import DEFAULT_MAX_DOSE_DECISIONS
from dosefinding_server.engine.simulation.summary import StopCount, Summary

from .trial_service import backfill_plan, expansion_plan
from .translate import design_from_proto, get_optional, outcomes_from_proto

#: the most trials one call may simulate per design and scenario, and over all of them
MAX_TRIALS, MAX_TOTAL_TRIALS = 1_000_000, 10_000_000
#: the most trials a response may list (include_trials)
MAX_LISTED_TRIALS = 100_000


def _estimate(estimate: Estimate) -> pb.MonteCarloEstimate:
    return pb.MonteCarloEstimate(value=estimate.value, mc_se=estimate.mc_se)


def _trials(trials: Trials, with_estimate: bool = False) -> list[pb.SimulatedTrial]:
    """Every trial of a table, in order."""
    listed = []
    reasons = trials.stop_reasons()
    for i, reason in enumerate(reasons):
        trial = pb.SimulatedTrial(patients=trials.n_at[i].tolist(), toxicities=trials.tox_at[i].tolist(),
                                  efficacies=trials.eff_at[i].tolist(), stop_reason=reason.name)
        if trials.recommended[i]:
            trial.recommended_dose = int(trials.recommended[i])
        if reason.stage_index is not None:
            trial.stop_stage_index = reason.stage_index
        if with_estimate and trials.estimate is not None:
            trial.estimate = float(trials.estimate[i])
        listed.append(trial)
    return listed


def _stop_counts(counts: Sequence[StopCount]) -> list[pb.StopReasonCount]:
    listed = []
    for stop in counts:
        entry = pb.StopReasonCount(reason=stop.reason.name, count=stop.count, share=_estimate(stop.share))
        if stop.reason.stage_index is not None:
            entry.stage_index = stop.reason.stage_index
        listed.append(entry)
    return listed


def _check_trials(count: int, field: str, jobs: int, include: bool) -> None:
    """``count`` trials for each of ``jobs`` (design, scenario) pairs must stay within the limits."""
    if not 1 <= count <= MAX_TRIALS:
        raise InputError(field, f"{count} is outside 1..{MAX_TRIALS}")
    if count * jobs > MAX_TOTAL_TRIALS:
        raise InputError(field, f"{count} trials for each of {jobs} designs and scenarios is more than "
                                f"{MAX_TOTAL_TRIALS} in all")
    if include and count * jobs > MAX_LISTED_TRIALS:
        raise InputError("include_trials", f"would list {count * jobs} trials; the limit is {MAX_LISTED_TRIALS}")


def _designs(designs: Sequence[design_pb2.Design]) -> list[Selector]:
    """The designs, with problems reported under ``designs[i]``."""
    built = []
    for index, design in enumerate(designs):
        try:
            built.append(design_from_proto(design))
        except InputError as error:
            moved = [FieldViolation(f"designs[{index}]" + v.field.removeprefix("design"), v.description)
                     for v in error.violations]
            raise InputError(moved[0].field, moved[0].description, *moved[1:]) from None
    return built


def _scenarios(scenarios: Sequence[pb.SimulationScenario]) -> list[Scenario]:
    built = []
    for index, scenario in enumerate(scenarios):
        try:
            built.append(Scenario(tuple(scenario.true_prob_tox), tuple(scenario.true_prob_eff) or None,
                                  scenario.label, tuple(scenario.correct_doses)))
        except InputError as error:
            raise error.prefixed(f"scenarios[{index}]") from None
    return built


def _conduct(message: pb.TrialConduct) -> Conduct:
    """An engine conduct; problems are reported under its own fields (the caller adds ``conducts[i]``)."""
    backfill = backfill_plan(get_optional(message, "backfill"))
    expansion = expansion_plan(get_optional(message, "expansion"))
    if backfill is None and message.backfill_per_cohort:
        raise InputError("backfill_per_cohort", "is set without a backfill plan")
    if expansion is None and (message.expansion_size or message.stratum_probabilities
                              or message.select_with_expansion):
        raise InputError("expansion", "expansion_size, stratum_probabilities and select_with_expansion need "
                                      "an expansion plan")
    return Conduct(
        label=message.label,
        backfill=None if backfill is None else BackfillArrivals(backfill, message.backfill_per_cohort),
        expansion=None if expansion is None else ExpansionCohort(
            expansion, message.expansion_size, tuple(message.stratum_probabilities), message.select_with_expansion),
    )


def _conducts(conducts: Sequence[pb.TrialConduct]) -> list[Conduct]:
    """The conducts (escalation only when none is given)."""
    built = []
    for index, conduct in enumerate(conducts):
        try:
            built.append(_conduct(conduct))
        except InputError as error:
            raise error.prefixed(f"conducts[{index}]") from None
    return built or [ESCALATION_ONLY]


def _phases(patients: Sequence[Estimate], toxicities: Sequence[Estimate]) -> list[pb.PhaseCounts]:
    """Per-phase means, in the engine's phase order."""
    return [pb.PhaseCounts(phase=word_enum(outcomes_pb2.TreatmentPhase.DESCRIPTOR, phase),
                           mean_patients=_estimate(n), mean_toxicities=_estimate(tox))
            for phase, n, tox in zip(PHASES, patients, toxicities)]


def _summary(s: Summary, summary: pb.SimulationSummary) -> None:
    """Fill ``summary`` with the operating characteristics ``s``."""
    summary.prob_no_dose.CopyFrom(_estimate(s.prob_no_dose))
    summary.correct_doses.extend(s.correct_doses)
    summary.mean_sample_size.CopyFrom(_estimate(s.mean_sample_size))
    summary.mean_toxicities.CopyFrom(_estimate(s.mean_toxicities))
    summary.stop_reasons.extend(_stop_counts(s.stop_reasons))
    summary.phases.extend(_phases(s.patients_by_phase, s.toxicities_by_phase))
    for dose in s.doses:
        entry = summary.doses.add(
            dose=dose.dose, prob_recommend=_estimate(dose.prob_recommend),
            mean_patients=_estimate(dose.mean_patients), mean_toxicities=_estimate(dose.mean_toxicities),
            prob_administer=_estimate(dose.prob_administer),
            phases=_phases(dose.patients_by_phase, dose.toxicities_by_phase))
        if dose.mean_efficacies is not None:
            entry.mean_efficacies.CopyFrom(_estimate(dose.mean_efficacies))
    for name in ("prob_correct_selection", "mean_efficacies", "prob_overdosed", "mean_patients_below_mtd"):
        value = getattr(s, name)
        if value is not None:
            getattr(summary, name).CopyFrom(_estimate(value))


def _contrast(contrast: ConductContrast) -> pb.ConductContrast:
    c = contrast.contrast
    message = pb.ConductContrast(design_index=contrast.design_index, scenario_index=contrast.scenario_index,
                                 conduct_index=contrast.conduct_index, mean_sample_size=_estimate(c.mean_sample_size),
                                 mean_toxicities=_estimate(c.mean_toxicities))
    for name in ("prob_correct_selection", "mean_patients_below_mtd"):
        value = getattr(c, name)
        if value is not None:
            getattr(message, name).CopyFrom(_estimate(value))
    return message


def _settings(request: pb.SimulateTrialsRequest) -> TrialSettings:
    """escalation's settings; ``max_dose_decisions`` 0 means no limit."""
    return TrialSettings(
        cohort_size=get_optional(request, "cohort_size", 3),
        max_patients=get_optional(request, "max_patients"),
        start_dose=get_optional(request, "start_dose"),
        max_dose_decisions=get_optional(request, "max_dose_decisions", DEFAULT_MAX_DOSE_DECISIONS) or None,
    )


class SimulationService(pb_grpc.SimulationServiceServicer):
    """Translates SimulationService calls to the engine."""

    def GetDosePaths(self, request: pb.GetDosePathsRequest, context: grpc.ServicerContext
                     ) -> pb.GetDosePathsResponse:
        design = design_from_proto(request.design)
        previous = outcomes_from_proto(request.previous_outcomes, design, "previous_outcomes")
        nodes = dose_paths(design, previous, tuple(request.cohort_sizes), get_optional(request, "next_dose"))
        response = pb.GetDosePathsResponse()
        for node in nodes:
            entry = response.nodes.add(node_id=node.node_id, depth=node.depth, pathway=node.pathway,
                                       outcomes=node.outcomes, continue_trial=node.continues)
            if node.parent_id is not None:
                entry.parent_id = node.parent_id
            if node.next_dose is not None:
                entry.next_dose = node.next_dose
        return response

    def SimulateTrials(self, request: pb.SimulateTrialsRequest, context: grpc.ServicerContext
                       ) -> Iterator[pb.SimulateTrialsResponse]:
        designs, scenarios = _designs(request.designs), _scenarios(request.scenarios)
        conducts = _conducts(request.conducts)
        _check_trials(request.num_trials, "num_trials", len(designs) * len(conducts) * len(scenarios),
                      request.include_trials)
        events = simulate_designs(
            designs, scenarios, _settings(request), request.num_trials, request.seed,
            target=get_optional(request, "target"),
            runner=shared_runner(request.workers), chunk_size=request.chunk_size or None, conducts=conducts,
        )
        for event in events:
            if isinstance(event, Progress):
                yield pb.SimulateTrialsResponse(progress=pb.SimulationProgress(
                    trials_done=event.done, trials_total=event.total))
                continue
            result = pb.SimulationResult(num_trials=event.num_trials, seed=event.seed,
                                         contrasts=[_contrast(c) for c in event.contrasts])
            for pair in event.pairs:
                summary = result.summaries.add(
                    design_index=pair.design_index, scenario_index=pair.scenario_index,
                    scenario_label=scenarios[pair.scenario_index].label, conduct_index=pair.conduct_index,
                    conduct_label=conducts[pair.conduct_index].label)
                _summary(pair.summary, summary)
                if request.include_trials:
                    summary.trials.extend(_trials(pair.trials))
            yield pb.SimulateTrialsResponse(result=result)

    def SimulateBoinOperatingCharacteristics(
        self, request: pb.SimulateBoinOperatingCharacteristicsRequest, context: grpc.ServicerContext,
    ) -> pb.SimulateBoinOperatingCharacteristicsResponse:
        _check_trials(request.ntrial, "ntrial", 1, request.include_trials)
        design = BoinOcDesign(
            target=request.target, ncohort=request.ncohort, cohortsize=request.cohortsize,
            n_earlystop=get_optional(request, "n_earlystop", 100), startdose=get_optional(request, "startdose", 1),
            titration=request.titration, p_saf=get_optional(request, "p_saf"),
            p_tox=get_optional(request, "p_tox"), cutoff_eli=get_optional(request, "cutoff_eli", 0.95),
            extrasafe=request.extrasafe, offset=get_optional(request, "offset", 0.05), bound_mtd=request.bound_mtd,
        )
        oc = final(get_oc(design, tuple(request.p_true), request.ntrial, request.seed,
                          runner=shared_runner(request.workers), chunk_size=request.chunk_size or None))
        response = pb.SimulateBoinOperatingCharacteristicsResponse(
            ntrial=oc.ntrial, totaltox=_estimate(oc.totaltox), totaln=_estimate(oc.totaln),
            percentstop=_estimate(oc.percentstop), stop_reasons=_stop_counts(oc.stop_reasons),
        )
        for dose, (sel, patients, tox) in enumerate(zip(oc.selpercent, oc.npatients, oc.ntox), 1):
            response.doses.add(dose=dose, selpercent=_estimate(sel), npatients=_estimate(patients),
                               ntox=_estimate(tox))
        if oc.overdose60 is not None and oc.overdose80 is not None:
            response.overdose60.CopyFrom(_estimate(oc.overdose60))
            response.overdose80.CopyFrom(_estimate(oc.overdose80))
        if request.include_trials:
            response.trials.extend(_trials(oc.trials))
        return response

    def SimulateCrm(self, request: pb.SimulateCrmRequest, context: grpc.ServicerContext) -> pb.SimulateCrmResponse:
        _check_trials(request.nsim, "nsim", 1, request.include_trials)
        start = request.WhichOneof("x0")
        if start is None:
            raise InputError("x0", "set start_level (one-stage CRM) or initial_design (two-stage CRM)")
        x0 = request.start_level if start == "start_level" else tuple(request.initial_design.levels)
        design = CrmSimDesign(
            prior=tuple(request.prior), target=request.target, n=request.n, x0=x0,
            mcohort=get_optional(request, "mcohort", 1), restrict=get_optional(request, "restrict", True),
            method=enum_word(calc.CrmMethod.DESCRIPTOR, request.method) or "bayes",
            model=enum_word(design_pb2.CrmModel.DESCRIPTOR, request.model) or "empiric",
            intcpt=get_optional(request, "intcpt", 3.0), scale=get_optional(request, "scale", math.sqrt(1.34)),
        )
        sim = final(crmsim(design, tuple(request.pi), request.nsim, request.seed,
                           runner=shared_runner(request.workers), chunk_size=request.chunk_size or None))
        response = pb.SimulateCrmResponse(
            nsim=sim.nsim, final_est_mean=_estimate(sim.final_est_mean), final_est_sd=_estimate(sim.final_est_sd),
            mle_approximated=sim.mle_approximated, stop_reasons=_stop_counts(sim.stop_reasons),
        )
        for dose, (mtd, level, tox) in enumerate(zip(sim.mtd, sim.level, sim.tox), 1):
            response.doses.add(dose=dose, mtd=_estimate(mtd), level=_estimate(level), tox=_estimate(tox))
        if request.include_trials:
            response.trials.extend(_trials(sim.trials, with_estimate=True))
        return response
