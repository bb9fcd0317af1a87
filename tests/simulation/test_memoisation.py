"""Memoised simulation (fits shared by sufficient state) gives exactly the trials of fitting from scratch."""

from __future__ import annotations

import pytest

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
