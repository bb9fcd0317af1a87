"""Designs that between them use every stage kind, with scenarios to simulate them in, and an oracle.

The oracle simulates a trial the plain way, as escalation's ``phase1_sim``
loop does: fit the design to all outcomes from scratch after every cohort,
with each patient's toxicity (and efficacy) decided by their own uniform,
and backfill and expansion patients allocated one at a time by the trial
service's own functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dosefinding_server.engine.backfill import BackfillPlan, allocate, backfill_doses
from dosefinding_server.engine.expansion import ExpansionPlan, sequence
from dosefinding_server.engine.outcomes import BACKFILL as BACKFILL_PHASE
from dosefinding_server.engine.outcomes import ESCALATION as ESCALATION_PHASE
from dosefinding_server.engine.outcomes import EXPANSION as EXPANSION_PHASE
from dosefinding_server.engine.outcomes import PHASES, Outcomes, Patient
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.selector import Selector
from dosefinding_server.engine.simulation.conduct import ESCALATION_ONLY, BackfillArrivals, Conduct, ExpansionCohort
from dosefinding_server.engine.simulation.escalation import stopped_by
from dosefinding_server.engine.simulation.randomness import (
    BACKFILL_BRANCH,
    EXPANSION_BRANCH,
    allocation_seeds,
    patient_uniforms,
    stream_uniforms,
)
from dosefinding_server.engine.simulation.records import StopReason, Trials, label_reasons
from dosefinding_server.engine.simulation.scenario import Scenario, TrialSettings
from dosefinding_server.engine.stopping.posterior import PosteriorRule, Rule

SKELETON = [0.05, 0.1, 0.2, 0.35, 0.5]
CRM = {"stage": "crm", "skeleton": SKELETON, "target": 0.25}
BOIN = {"stage": "boin", "num_doses": 5, "target": 0.25}

DESIGNS: dict[str, list[dict[str, Any]]] = {
    "crm": [CRM, {"stage": "stop_at_n", "n": 18}],
    "crm logistic, no skipping either way": [
        {"stage": "crm", "skeleton": SKELETON, "target": 0.25, "model": "logistic"},
        {"stage": "dont_skip_doses", "when_deescalating": True}, {"stage": "stop_at_n", "n": 15}],
    "two-stage crm": [{"stage": "follow_path", "path": "1NNN 2NNN 3NNN 4NNN"}, CRM, {"stage": "stop_at_n", "n": 18}],
    "path alone": [{"stage": "follow_path", "path": "1NNN 2NNN 3NNN 4NNN 5NNN"}],
    "crm with safety and rescue": [
        CRM, {"stage": "stop_when_too_toxic", "dose": 1, "tox_threshold": 0.3, "confidence": 0.7},
        {"stage": "try_rescue_dose", "dose": 1, "n": 6}, {"stage": "stop_at_n", "n": 18}],
    "crm until covered": [
        CRM, {"stage": "stop_when_tox_ci_covered", "dose": "recommended", "lower": 0.05, "upper": 0.5},
        {"stage": "stop_when_n_at_dose", "n": 9, "dose": "recommended"}, {"stage": "stop_at_n", "n": 24}],
    "crm by cibp, sticky": [
        CRM, {"stage": "select_dose_by_cibp", "a": 1.0}, {"stage": "stick_on_num_tox", "num_tox": 1, "num_patients": 3},
        {"stage": "unadmit_untested"}, {"stage": "stop_at_n", "n": 15}],
    "boin revived": [BOIN, {"stage": "stop_at_n", "n": 12},
                     {"stage": "demand_n_at_dose", "n": 9, "dose": "recommended"}, {"stage": "select_boin_mtd"}],
    "boin expanded": [BOIN, {"stage": "stop_when_n_at_dose", "n": 9, "dose": "any"},
                      {"stage": "expand_last_dose_to_cohort", "n": 12}],
    "boin posterior rules": [BOIN,
                             {"stage": "stop_when_posterior_toxic", "dose": "any", "theta": 0.3, "confidence": 0.9},
                             {"stage": "stop_at_n", "n": 15}],
    "tpi": [{"stage": "tpi", "num_doses": 5, "target": 0.25, "k1": 1, "k2": 1.5, "exclusion_certainty": 0.95},
            {"stage": "stop_at_n", "n": 18}, {"stage": "select_tpi_mtd", "exclusion_certainty": 0.95}],
    "mtpi": [{"stage": "mtpi", "num_doses": 5, "target": 0.25, "epsilon1": 0.05, "epsilon2": 0.05,
              "exclusion_certainty": 0.95}, {"stage": "stop_at_n", "n": 18},
             {"stage": "select_mtpi_mtd", "exclusion_certainty": 0.95}],
    "mtpi2 tree-stable": [{"stage": "mtpi2", "num_doses": 5, "target": 0.25, "epsilon1": 0.05, "epsilon2": 0.05,
                           "exclusion_certainty": 0.95}, {"stage": "stop_when_tree_stable", "k": 3},
                          {"stage": "stop_at_n", "n": 18}, {"stage": "select_mtpi2_mtd", "exclusion_certainty": 0.95}],
    "3+3": [{"stage": "three_plus_three", "num_doses": 5}],
    "3+3 de-escalating": [{"stage": "three_plus_three", "num_doses": 5, "allow_deescalate": True}],
    "boin12 futile": [{"stage": "boin12", "num_doses": 5, "phi_t": 0.35, "phi_e": 0.25, "u2": 40, "u3": 60},
                      {"stage": "stop_when_posterior_futile", "dose": 1, "theta": 0.2, "confidence": 0.95},
                      {"stage": "stop_at_n", "n": 18}],
}

#: conducts around the escalation: backfill, backfill with a futility rule, randomised expansion, both
SAFETY = PosteriorRule(Rule.TOXICITY, 0.3, 0.9, 1.0, 1.0)
WITH_BACKFILL = Conduct("with backfill", BackfillArrivals(BackfillPlan(cap_per_dose=4, safety=SAFETY), 2))
WITH_FUTILITY = Conduct("with backfill and futility", BackfillArrivals(BackfillPlan(
    cap_per_dose=6, safety=SAFETY, clear_after=2, futility=PosteriorRule(Rule.FUTILITY, 0.3, 0.8, 1.0, 1.0)), 3))
WITH_EXPANSION = Conduct("with expansion", expansion=ExpansionCohort(
    ExpansionPlan((2, 3), ("NSCLC", "melanoma", "breast")), 13, (0.5, 0.3, 0.2), select_with_expansion=True))
WITH_BOTH = Conduct("both", WITH_BACKFILL.backfill, ExpansionCohort(ExpansionPlan((1, 3, 4)), 7))


TOX = (0.05, 0.12, 0.25, 0.4, 0.55)
EFF = (0.1, 0.25, 0.4, 0.5, 0.55)


def design(name: str) -> Selector:
    return build_design(DESIGNS[name])


def scenario_for(selector: Selector) -> Scenario:
    return Scenario(TOX, EFF if selector.efficacy else None)


def oracle(selector: Selector, scenario: Scenario, settings: TrialSettings, seed: int, num_trials: int,
           conduct: Conduct = ESCALATION_ONLY) -> Trials:
    """Each trial simulated from scratch: a fresh fit of the whole design after every cohort, with the
    conduct's backfill arrivals and expansion applied patient by patient."""
    capacity = settings.capacity
    tox_u, eff_u = patient_uniforms(seed, 0, num_trials, capacity)
    backfill, expansion = conduct.backfill, conduct.expansion
    cohorts = min((settings.max_dose_decisions or capacity + 1) - 1, -(-capacity // settings.cohort_size))
    backfill_u = stream_uniforms(seed, 0, num_trials, cohorts * backfill.per_cohort, 2, (BACKFILL_BRANCH,)) \
        if backfill else None
    expansion_u = stream_uniforms(seed, 0, num_trials, expansion.size, 3, (EXPANSION_BRANCH,)) if expansion else None
    seeds = allocation_seeds(seed, 0, num_trials)
    reads_eff = selector.efficacy or conduct.reads_efficacy
    k = scenario.num_doses
    recommended = np.zeros(num_trials, dtype=np.int32)
    n, tox_at, eff_at = (np.zeros((num_trials, len(PHASES), k), dtype=np.int32) for _ in range(3))
    reasons: list[StopReason] = []
    max_decisions = settings.max_dose_decisions or capacity + 1

    def treat(trial: int, dose: int, phase: str, u_tox: float, u_eff: float) -> Patient:
        toxic = bool(u_tox < scenario.true_prob_tox[dose - 1])
        effective = bool(u_eff < scenario.true_prob_eff[dose - 1]) if scenario.true_prob_eff is not None else False
        where = (trial, PHASES.index(phase), dose - 1)
        n[where] += 1
        tox_at[where] += toxic
        eff_at[where] += effective
        return Patient(dose, toxic, effective if reads_eff else None, phase=phase)

    for trial in range(num_trials):
        outcomes = Outcomes(())
        fit = selector.fit(outcomes)
        dose = settings.start_dose or fit.recommended_dose()
        patients, decisions, allocated = 0, 1, 0
        while fit.continues() and dose is not None and decisions < max_decisions and patients < capacity:
            size = min(settings.cohort_size, capacity - patients)
            cohort = [treat(trial, dose, ESCALATION_PHASE, tox_u[trial, j], eff_u[trial, j])
                      for j in range(patients, patients + size)]
            if backfill is not None and backfill_u is not None:
                room = {s.dose: backfill.plan.cap_per_dose - s.backfilled
                        for s in backfill_doses(backfill.plan, outcomes, dose, k) if s.open}
                for slot in range(backfill.per_cohort):
                    candidates = [d for d, left in room.items() if left > 0]
                    if not candidates:
                        break
                    chosen = allocate(candidates, seeds[trial], allocated)
                    allocated += 1
                    room[chosen] -= 1
                    u = backfill_u[trial, (decisions - 1) * backfill.per_cohort + slot]
                    cohort.append(treat(trial, chosen, BACKFILL_PHASE, u[0], u[1]))
            outcomes = outcomes.extended(cohort)
            patients += size
            decisions += 1
            fit = selector.fit(outcomes)
            dose = fit.recommended_dose()
        recommended[trial] = fit.recommended_dose() or 0
        if expansion is not None and expansion_u is not None and recommended[trial]:
            edges = np.cumsum(expansion.shares)
            strata = [min(int(np.searchsorted(edges, u[0], side="right")), len(edges) - 1)
                      for u in expansion_u[trial]]
            arms = {name: iter(sequence(expansion.plan, seeds[trial], name, strata.count(index)))
                    for index, name in enumerate(expansion.plan.strata)}
            expanded = [treat(trial, next(arms[expansion.plan.strata[stratum]]), EXPANSION_PHASE, u[1], u[2])
                        for stratum, u in zip(strata, expansion_u[trial])]
            if expansion.select_with_expansion:
                recommended[trial] = selector.fit(outcomes.extended(expanded)).recommended_dose() or 0
        stop = stopped_by(fit)
        if stop is None:
            stop = StopReason("max_dose_decisions" if decisions >= max_decisions else "max_patients")
        reasons.append(stop)
    codes, table = label_reasons(reasons)
    return Trials(recommended, n.sum(axis=1, dtype=np.int32), tox_at.sum(axis=1, dtype=np.int32),
                  eff_at.sum(axis=1, dtype=np.int32), codes, table, phase_n=n, phase_tox=tox_at)


def same_trials(a: Trials, b: Trials) -> bool:
    """Byte-identical tables (arrays, their dtypes, and the stop reasons)."""
    arrays = ("recommended", "n_at", "tox_at", "eff_at", "reason")
    same = all(getattr(a, n).dtype == getattr(b, n).dtype and getattr(a, n).tobytes() == getattr(b, n).tobytes()
               for n in arrays)
    optional = all(
        (x is None and y is None) or (x is not None and y is not None and x.dtype == y.dtype
                                      and x.tobytes() == y.tobytes())
        for x, y in ((a.estimate, b.estimate), (a.phase_n, b.phase_n), (a.phase_tox, b.phase_tox)))
    return same and optional and a.reasons == b.reasons
