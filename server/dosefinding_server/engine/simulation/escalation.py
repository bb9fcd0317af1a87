"""Simulating any design pipeline escalation's way (``simulate_trials``, ``simulate_compare``).

The rule of a design is its own fit: at each state the design is fitted to
the outcomes and its recommended dose and decision to continue are the
step.  States are keyed by the design's sufficient state
(:meth:`..selector.Selector.state_key`), or, with ``memoise`` off, by the
whole patient sequence (which shares a fit only between identical
histories; kept to check the keys).  A trial that the design stops is
stopped by the stage after which its decision to continue stays false (a
later stage such as ``demand_n_at_dose`` can revive a trial, so that is the
last change from true to false), or, when it continues but names no dose,
by the stage after which no dose stays named.

A trial's conduct (:mod:`.conduct`) adds backfill patients during escalation
(:mod:`.backfill_arrivals`) and randomised expansion after it
(:mod:`.expansion_cohort`).  Escalation patient j always draws position j
of the trial's own stream, and backfill and expansion patients draw from
branches of it, so the same design run with and without them treats the
same escalation patients until their data differ: a comparison of conducts
on one seed isolates the effect of the added patients (common random
numbers, Sweeting et al. 2024).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Hashable, Sequence

import numpy as np

from ..backfill import BackfillPlan
from ..errors import InputError
from ..fit import Fit
from ..outcomes import EXPANSION, PHASES, Outcomes, Patient
from ..selector import Feature, Selector
from .backfill_arrivals import Backfilling, backfill_state, decode
from .conduct import ESCALATION_ONLY, Conduct
from .expansion_cohort import expand
from .graph import Cohort, Rule, Step, StateGraph, graph_for
from .randomness import BACKFILL_BRANCH, EXPANSION_BRANCH, allocation_seeds, patient_uniforms, stream_uniforms
from .records import StopReason, Trials, label_reasons
from .scenario import Scenario, TrialSettings
from .walk import LIMITS, Limits, Walk, walk


def _fit_chain(fit: Fit) -> list[Fit]:
    """The fits of every stage, first to last."""
    chain: list[Fit] = []
    current: Fit | None = fit
    while current is not None:
        chain.append(current)
        current = current.parent_fit()
    return chain[::-1]


def stopped_by(fit: Fit) -> StopReason | None:
    """The stage that ended the trial at ``fit``, or ``None`` while it goes on (see the module docstring)."""
    if fit.continues() and fit.recommended_dose() is not None:
        return None
    chain = _fit_chain(fit)
    if fit.continues():
        held = [f.recommended_dose() is None for f in chain]
    else:
        held = [not f.continues() for f in chain]
    first = len(held)
    while first > 0 and held[first - 1]:
        first -= 1
    stage = chain[first]
    return StopReason(stage.stage, stage.index)


@dataclass(frozen=True)
class EscalationRule(Rule):
    """A design as a simulation rule, with backfill if a plan is given; equal designs (stage by stage) with
    equal plans share a graph.  Patients carry efficacy when the design or the backfill futility rule reads it."""

    design: Selector = field(compare=False)
    num_doses: int
    memoise: bool = True
    backfill: BackfillPlan | None = None
    fingerprint: tuple[str, ...] = field(init=False)
    efficacy: bool = field(init=False)
    exchangeable: bool = field(init=False)

    def __post_init__(self) -> None:
        stages = self.design.stages()
        reads = frozenset().union(*(stage.reads for stage in stages))
        object.__setattr__(self, "fingerprint", tuple(repr(stage) for stage in stages))
        object.__setattr__(self, "efficacy", self.design.efficacy or (
            self.backfill is not None and self.backfill.futility is not None))
        object.__setattr__(self, "exchangeable",
                           self.memoise and not reads & {Feature.SEQUENCE, Feature.OWN_STATE})
        if self.design.num_doses not in (None, self.num_doses):
            raise InputError("true_prob_tox", f"has {self.num_doses} doses; the design has {self.design.num_doses}")

    def initial(self) -> Outcomes:
        return Outcomes(())

    def extend(self, state: Outcomes, cohort: Cohort) -> Outcomes:
        return state.appended(_patients(cohort, state.last_cohort + 1))

    def extend_alongside(self, state: Outcomes, cohort: Cohort, alongside: tuple[int, ...]) -> Outcomes:
        """The cohort, then the backfill patients treated while it was (in order of arrival)."""
        return state.extended(_patients(cohort) + tuple(decode(alongside, self.efficacy)))

    def key(self, outcomes: Outcomes) -> Hashable:
        """The design's key, and with backfill what the backfill state reads."""
        if not self.memoise:
            return outcomes.patients
        design_key = self.design.state_key(outcomes)
        return design_key if self.backfill is None else (design_key, backfill_state(outcomes, self.num_doses))

    def key_after(self, state: Outcomes, key: Hashable, cohort: Cohort) -> Hashable | None:
        """The design's key after the cohort, from its key (:meth:`..selector.Selector.key_after`)."""
        if not self.memoise or self.backfill is not None:
            return None
        return self.design.key_after(key, _patients(cohort))

    def steps(self, states: Sequence[Outcomes]) -> list[Step]:
        """The design's decisions, fitted together (:meth:`..selector.Selector.fit_many`)."""
        return [self._step(fit) for fit in self.design.fit_many(states)]

    def _step(self, fit: Fit) -> Step:
        dose = fit.recommended_dose()
        if dose is not None and not 1 <= dose <= self.num_doses:
            raise InputError("design", f"recommends dose {dose}, outside the scenario's 1..{self.num_doses}")
        continues = fit.continues()
        return Step(dose, continues, None if continues and dose is not None else stopped_by(fit))


@lru_cache(maxsize=None)
def _patients(cohort: Cohort, number: int = 1) -> tuple[Patient, ...]:
    """The escalation patients of a cohort, as cohort ``number`` (once per cohort code and number: a
    simulation meets each many times)."""
    dose, outcomes = cohort
    return tuple(Patient(dose, tox, eff, number) for tox, eff in outcomes)


@dataclass(frozen=True)
class EscalationJob:
    """One design against one scenario under one conduct: trials ``start`` to ``stop - 1`` of a run with
    ``seed``."""

    rule: EscalationRule
    scenario: Scenario
    settings: TrialSettings
    seed: int
    conduct: Conduct = ESCALATION_ONLY

    def __post_init__(self) -> None:
        if self.rule.design.efficacy and self.scenario.true_prob_eff is None:
            raise InputError("true_prob_eff", "the design models efficacy: give a true efficacy probability per dose")
        if self.conduct.reads_efficacy and self.scenario.true_prob_eff is None:
            raise InputError("true_prob_eff", "the backfill futility rule reads efficacy: give a true efficacy "
                                              "probability per dose")
        if self.rule.backfill != (self.conduct.backfill.plan if self.conduct.backfill else None):
            raise ValueError("the rule must carry the conduct's backfill plan (its states hold backfill patients)")
        start = self.settings.start_dose
        if start is not None and start > self.scenario.num_doses:
            raise InputError("start_dose", f"dose {start} is outside 1..{self.scenario.num_doses}")
        self.conduct.check(self.scenario.num_doses)

    def run(self, start: int, stop: int) -> Trials:
        """Simulate these trials (the order and grouping of calls never changes a trial)."""
        settings, conduct = self.settings, self.conduct
        limits = Limits(settings.cohort_size, settings.capacity, settings.max_dose_decisions, settings.start_dose)
        tox_u, eff_u = patient_uniforms(self.seed, start, stop, settings.capacity)
        seeds = allocation_seeds(self.seed, start, stop) if conduct.backfill or conduct.expansion else []
        backfilling = None if conduct.backfill is None else Backfilling(conduct.backfill, stream_uniforms(
            self.seed, start, stop, limits.cohorts * conduct.backfill.per_cohort, 2, (BACKFILL_BRANCH,)), seeds)
        graph = graph_for(self.rule)
        with graph.lock:
            ended = walk(graph, self.scenario, limits, tox_u, eff_u, backfilling)
            recommended = graph.dose[ended.node]
            if conduct.expansion is not None:
                recommended = self._expand(graph, ended, recommended, seeds, start, stop)
            # the reasons of the distinct (final node, limit) pairs, which many trials share
            ends, end_index = np.unique(ended.node * len(LIMITS) + ended.limit, return_inverse=True)
            reasons = [graph.steps[node].stopped_by if limit == 0 else StopReason(LIMITS[limit])
                       for node, limit in (divmod(end, len(LIMITS)) for end in ends.tolist())]
        codes, table = label_reasons(reasons)
        return Trials(recommended, ended.n_at, ended.tox_at, ended.eff_at, codes[end_index.reshape(-1)], table,
                      phase_n=ended.n, phase_tox=ended.tox)

    def _expand(self, graph: StateGraph, ended: Walk, recommended: np.ndarray, seeds: list[int],
                start: int, stop: int) -> np.ndarray:
        """Randomise the expansion of every trial that recommends a dose, counting its patients in ``ended``;
        the final recommendations (refitted to every patient when the selection uses the expansion)."""
        cohort = self.conduct.expansion
        assert cohort is not None
        uniforms = stream_uniforms(self.seed, start, stop, cohort.size, 3, (EXPANSION_BRANCH,))
        expanded = expand(cohort, self.scenario, recommended > 0, uniforms, seeds)
        phase = PHASES.index(EXPANSION)
        rows, columns = np.nonzero(expanded.arm)
        for array, counts in ((ended.n, expanded.arm > 0), (ended.tox, expanded.tox), (ended.eff, expanded.eff)):
            np.add.at(array[:, phase], (rows, expanded.arm[rows, columns] - 1), counts[rows, columns])
        if not cohort.select_with_expansion:
            return recommended
        final = recommended.copy()
        rows = np.flatnonzero(recommended).tolist()
        everyone = [graph.states[ended.node[row]].extended(expanded.patients(row, self.rule.efficacy))
                    for row in rows]
        for row, node in zip(rows, graph.nodes(everyone)):
            final[row] = graph.steps[node].dose or 0
        return final
