"""Many simulated trials advanced together, cohort by cohort, through a state graph.

escalation's ``phase1_sim`` loop (Brock 2019), run for a whole chunk of trials
at once: fit, stop unless the fit continues and names a dose (or the decision
limit is reached), treat the next cohort at that dose, fit again.  Every
trial's cohort has the same size at the same step, so a step is a handful of
numpy operations over the trials still going on: read each trial's dose from
its node, compare its patients' uniforms with the true probabilities there,
and move it along the graph.  With backfill (:mod:`.backfill_arrivals`), the
patients arriving during each cohort are allocated and treated alongside it,
and join the data of the next fit.

The limits bound the escalation: ``capacity`` is the most escalation
patients a trial may have (the positions of its escalation stream), and
backfill patients come on top of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..outcomes import BACKFILL, ESCALATION, PHASES
from .backfill_arrivals import Backfilling, encode
from .graph import StateGraph
from .scenario import Scenario

#: why a trial ended, when its design did not stop it: ``Walk.limit`` indexes this
LIMITS = ("design", "max_patients", "max_dose_decisions")


@dataclass(frozen=True)
class Limits:
    """The walk's settings: cohort size, escalation patients a trial may have, fits allowed, first dose."""

    cohort_size: int
    capacity: int
    max_decisions: int | None = None
    start_dose: int | None = None

    @property
    def cohorts(self) -> int:
        """The most escalation cohorts a trial can have."""
        by_decisions = math.inf if self.max_decisions is None else self.max_decisions - 1
        return int(min(by_decisions, math.ceil(self.capacity / self.cohort_size)))


@dataclass(frozen=True)
class Walk:
    """Where each trial of a chunk ended and whom it treated, per phase (``PHASES`` order)."""

    node: np.ndarray  # final node per trial
    n: np.ndarray  # trials × phases × doses: patients
    tox: np.ndarray  # toxicities
    eff: np.ndarray  # efficacies (zero without efficacy probabilities)
    limit: np.ndarray  # index into LIMITS

    @property
    def n_at(self) -> np.ndarray:
        return self.n.sum(axis=1, dtype=np.int32)

    @property
    def tox_at(self) -> np.ndarray:
        return self.tox.sum(axis=1, dtype=np.int32)

    @property
    def eff_at(self) -> np.ndarray:
        return self.eff.sum(axis=1, dtype=np.int32)


def walk(graph: StateGraph, scenario: Scenario, limits: Limits, tox_u: np.ndarray, eff_u: np.ndarray,
         backfilling: Backfilling | None = None) -> Walk:
    """Simulate one trial per row of the uniforms (escalation patients' toxicity and efficacy uniforms, in
    arrival order), with backfill arrivals if ``backfilling`` is given."""
    trials, doses = tox_u.shape[0], scenario.num_doses
    p_tox = np.asarray(scenario.true_prob_tox)
    p_eff = None if scenario.true_prob_eff is None else np.asarray(scenario.true_prob_eff)
    node = np.full(trials, graph.root, dtype=np.int64)
    n, tox_at, eff_at = (np.zeros((trials, len(PHASES), doses), dtype=np.int32) for _ in range(3))
    limit = np.zeros(trials, dtype=np.int8)
    root = graph.steps[graph.root]
    first_dose = limits.start_dose or root.dose
    active = np.full(trials, root.continues and first_dose is not None)
    max_decisions = math.inf if limits.max_decisions is None else limits.max_decisions
    escalation, backfill = PHASES.index(ESCALATION), PHASES.index(BACKFILL)
    patients, decisions = 0, 1
    while True:
        going = np.flatnonzero(active)
        if not len(going):
            break
        if decisions >= max_decisions or patients >= limits.capacity:
            limit[going] = LIMITS.index("max_dose_decisions" if decisions >= max_decisions else "max_patients")
            break
        size = min(limits.cohort_size, limits.capacity - patients)
        dose = np.full(len(going), first_dose) if decisions == 1 else graph.dose[node[going]]
        cohort = slice(patients, patients + size)
        tox = tox_u[going, cohort] < p_tox[dose - 1, None]
        eff = None if p_eff is None else eff_u[going, cohort] < p_eff[dose - 1, None]
        alongside = None
        if backfilling is not None:
            given, b_tox, b_eff = backfilling.period(graph, going, node[going], dose, decisions - 1, p_tox, p_eff)
            alongside = encode(given, b_tox, b_eff if graph.rule.efficacy else None)
            taken = np.nonzero(given)
            where = (going[taken[0]], given[taken] - 1)
            np.add.at(n[:, backfill], where, 1)
            np.add.at(tox_at[:, backfill], where, b_tox[taken])
            np.add.at(eff_at[:, backfill], where, b_eff[taken])
        node[going] = graph.advance(node[going], dose, tox, eff if graph.rule.efficacy else None, alongside)
        n[going, escalation, dose - 1] += size
        tox_at[going, escalation, dose - 1] += tox.sum(axis=1, dtype=np.int32)
        if eff is not None:
            eff_at[going, escalation, dose - 1] += eff.sum(axis=1, dtype=np.int32)
        patients += size
        decisions += 1
        active[going] = graph.goes_on[node[going]]
    return Walk(node, n, tox_at, eff_at, limit)
