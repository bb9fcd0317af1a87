"""Memoised simulation (fits shared by sufficient state) gives exactly the trials of fitting from scratch."""

from __future__ import annotations

import random

import pytest

from dosefinding_server.engine.outcomes import PHASES, Outcomes, Patient
from dosefinding_server.engine.registry import stage_kinds
from dosefinding_server.engine.selector import Feature
from dosefinding_server.engine.simulation.escalation import EscalationJob, EscalationRule
from dosefinding_server.engine.simulation.graph import graph_for
from dosefinding_server.engine.simulation.scenario import TrialSettings

from .catalogue import DESIGNS, design, oracle, same_trials, scenario_for

SEED = 31
TRIALS = 60


def test_the_catalogue_uses_every_stage_kind() -> None:
    used = {stage["stage"] for stages in DESIGNS.values() for stage in stages}
    assert used == set(stage_kinds())


def test_every_stage_declares_what_it_reads() -> None:
    """The safe default (the whole sequence) shares nothing; every registered stage does better."""
    for kind, cls in stage_kinds().items():
        assert Feature.SEQUENCE not in cls.reads, kind


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_memoised_equals_unmemoised_equals_fitting_from_scratch(name: str) -> None:
    selector = design(name)
    scenario = scenario_for(selector)
    settings = TrialSettings(cohort_size=3, max_dose_decisions=9)
    runs = [EscalationJob(EscalationRule(selector, scenario.num_doses, memoise), scenario, settings, SEED)
            .run(0, TRIALS) for memoise in (True, False)]
    assert same_trials(runs[0], runs[1])
    assert same_trials(runs[0], oracle(selector, scenario, settings, SEED, TRIALS))


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_the_key_after_a_cohort_is_the_key_of_the_outcomes_with_it(name: str) -> None:
    """Where a design can key ahead (:meth:`Selector.key_after`), it gives exactly the extended outcomes' key."""
    selector = design(name)
    doses = scenario_for(selector).num_doses
    rng = random.Random(name)

    def patients(count: int) -> list[Patient]:
        return [Patient(rng.randint(1, doses), rng.random() < 0.3, rng.random() < 0.5 if selector.efficacy else None,
                        phase=rng.choice(PHASES)) for _ in range(count)]

    keyed_ahead = 0
    for _ in range(40):
        outcomes, cohort = Outcomes(tuple(patients(rng.randint(0, 12)))), patients(rng.randint(1, 4))
        key = selector.key_after(selector.state_key(outcomes), cohort)
        if key is not None:
            keyed_ahead += 1
            assert key == selector.state_key(outcomes.extended(cohort))
    assert keyed_ahead in (0, 40)


def test_memoisation_shares_fits() -> None:
    """For a count-based design, far fewer states than fits from scratch."""
    selector = design("crm")
    scenario = scenario_for(selector)
    settings = TrialSettings()
    rules = [EscalationRule(selector, scenario.num_doses, memoise) for memoise in (True, False)]
    for rule in rules:
        EscalationJob(rule, scenario, settings, SEED).run(0, 400)
    assert rules[0].exchangeable and not rules[1].exchangeable
    assert 2 * len(graph_for(rules[0])) < len(graph_for(rules[1]))


def test_truncated_cohorts_and_limits() -> None:
    """max_patients cuts the last cohort; without a stopping stage the decision limit ends trials."""
    selector = design("crm")
    scenario = scenario_for(selector)
    for settings in (TrialSettings(cohort_size=4, max_patients=10), TrialSettings(cohort_size=2, max_dose_decisions=4),
                     TrialSettings(cohort_size=3, start_dose=3)):
        rule = EscalationRule(selector.parent, scenario.num_doses)  # the CRM alone never stops itself
        trials = EscalationJob(rule, scenario, settings, SEED).run(0, 40)
        assert same_trials(trials, oracle(selector.parent, scenario, settings, SEED, 40))
        assert all(trials.n_at.sum(axis=1) == settings.capacity)
