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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

import numpy as np

from ..errors import InputError
from ..fit import Fit
from ..outcomes import Outcomes, Patient
from ..selector import Feature, Selector
from .graph import Cohort, Rule, Step, graph_for
from .randomness import patient_uniforms
from .records import StopReason, Trials, label_reasons
from .scenario import Scenario, TrialSettings
from .walk import LIMITS, Limits, walk


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
    chain = _fit_chain(fit)
    if fit.continues():
        if fit.recommended_dose() is not None:
            return None
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
    """A design as a simulation rule; equal designs (stage by stage) share a graph."""

    design: Selector = field(compare=False)
    num_doses: int
    memoise: bool = True
    fingerprint: tuple[str, ...] = field(init=False)
    efficacy: bool = field(init=False)
    exchangeable: bool = field(init=False)

    def __post_init__(self) -> None:
        stages = self.design.stages()
        reads = frozenset().union(*(stage.reads for stage in stages))
        object.__setattr__(self, "fingerprint", tuple(repr(stage) for stage in stages))
        object.__setattr__(self, "efficacy", self.design.efficacy)
        object.__setattr__(self, "exchangeable",
                           self.memoise and not reads & {Feature.SEQUENCE, Feature.OWN_STATE})
        if self.design.num_doses not in (None, self.num_doses):
            raise InputError("true_prob_tox", f"has {self.num_doses} doses; the design has {self.design.num_doses}")

    def initial(self) -> Outcomes:
        return Outcomes(())

    def extend(self, state: Outcomes, cohort: Cohort) -> Outcomes:
        dose, patients = cohort
        return state.extended([Patient(dose, tox, eff) for tox, eff in patients])

    def key(self, outcomes: Outcomes) -> Hashable:
        return self.design.state_key(outcomes) if self.memoise else outcomes.patients

    def step(self, outcomes: Outcomes) -> Step:
        fit = self.design.fit(outcomes)
        dose = fit.recommended_dose()
        if dose is not None and not 1 <= dose <= self.num_doses:
            raise InputError("design", f"recommends dose {dose}, outside the scenario's 1..{self.num_doses}")
        return Step(dose, fit.continues(), stopped_by(fit))


@dataclass(frozen=True)
class EscalationJob:
    """One design against one scenario: trials ``start`` to ``stop - 1`` of a run with ``seed``."""

    rule: EscalationRule
    scenario: Scenario
    settings: TrialSettings
    seed: int

    def __post_init__(self) -> None:
        if self.rule.efficacy and self.scenario.true_prob_eff is None:
            raise InputError("true_prob_eff", "the design models efficacy: give a true efficacy probability per dose")
        start = self.settings.start_dose
        if start is not None and start > self.scenario.num_doses:
            raise InputError("start_dose", f"dose {start} is outside 1..{self.scenario.num_doses}")

    def run(self, start: int, stop: int) -> Trials:
        """Simulate these trials (the order and grouping of calls never changes a trial)."""
        settings = self.settings
        limits = Limits(settings.cohort_size, settings.capacity, settings.max_dose_decisions, settings.start_dose)
        tox_u, eff_u = patient_uniforms(self.seed, start, stop, settings.capacity)
        graph = graph_for(self.rule)
        with graph.lock:
            ended = walk(graph, self.scenario, limits, tox_u, eff_u)
            steps = [graph.steps[node] for node in ended.node.tolist()]
        reasons = [step.stopped_by if limit == 0 else StopReason(LIMITS[limit])
                   for step, limit in zip(steps, ended.limit.tolist())]
        codes, table = label_reasons(reasons)
        recommended = np.array([step.dose or 0 for step in steps], dtype=np.int32)
        return Trials(recommended, ended.n_at, ended.tox_at, ended.eff_at, codes, table)
