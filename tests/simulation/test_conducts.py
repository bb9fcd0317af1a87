"""Backfill and randomised expansion in simulation: the trial service's rules, exactly, on common random numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dosefinding_server.engine.backfill import BackfillPlan
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.expansion import ExpansionPlan
from dosefinding_server.engine.outcomes import PHASES
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.simulation import Scenario, TrialSettings, final, simulate_designs
from dosefinding_server.engine.simulation.conduct import (
    ESCALATION_ONLY,
    BackfillArrivals,
    Conduct,
    ExpansionCohort,
)
from dosefinding_server.engine.simulation.escalation import EscalationJob, EscalationRule
from dosefinding_server.engine.simulation.randomness import allocation_seeds, child_states

from .catalogue import (
    CRM,
    SAFETY,
    WITH_BACKFILL,
    WITH_BOTH,
    WITH_EXPANSION,
    WITH_FUTILITY,
    design,
    oracle,
    same_trials,
    scenario_for,
)

ESCALATION, BACKFILLED, EXPANDED = range(len(PHASES))


def run(conduct: Conduct, name: str, memoise: bool = True, trials: int = 60, seed: int = 23) -> Any:
    selector = design(name)
    scenario = scenario_for(selector)
    plan = conduct.backfill.plan if conduct.backfill else None
    settings = TrialSettings(cohort_size=3, max_dose_decisions=9)
    job = EscalationJob(EscalationRule(selector, scenario.num_doses, memoise, plan), scenario, settings, seed, conduct)
    return job.run(0, trials), oracle(selector, scenario, settings, seed, trials, conduct)


CASES = [(name, conduct) for name in ("crm", "boin expanded", "boin12 futile", "crm by cibp, sticky",
                                      "mtpi2 tree-stable") for conduct in (WITH_BACKFILL, WITH_EXPANSION, WITH_BOTH)]


@pytest.mark.parametrize("name, conduct", CASES + [("boin12 futile", WITH_FUTILITY)],
                         ids=lambda case: case if isinstance(case, str) else case.label)
def test_simulation_equals_allocating_patient_by_patient(name: str, conduct: Conduct) -> None:
    """The chunked, memoised walk gives exactly the trials of allocating each patient with the service's own
    functions (allocate, backfill_doses, expansion.sequence) and fitting from scratch; unmemoised (keyed by
    the whole ordered sequence) too."""
    memoised, expected = run(conduct, name)
    assert same_trials(memoised, expected)
    assert same_trials(run(conduct, name, memoise=False)[0], expected)


def test_the_catalogue_exercises_every_phase() -> None:
    both, _ = run(WITH_BOTH, "crm", trials=200)
    assert all(both.phase_n[:, phase].sum() > 0 for phase in (ESCALATION, BACKFILLED, EXPANDED))


def test_backfill_stays_below_escalation_within_caps() -> None:
    trials, _ = run(WITH_BACKFILL, "crm", trials=300)
    backfilled, escalated = trials.phase_n[:, BACKFILLED], trials.phase_n[:, ESCALATION]
    assert backfilled.sum() > 300 and backfilled.max() <= 4
    highest = np.array([np.flatnonzero(row).max() for row in escalated])
    assert all(not row[top:].any() for row, top in zip(backfilled, highest))


def test_separate_streams_leave_escalation_patients_alone() -> None:
    """Expansion patients draw from their own branch: escalation is the same trial by trial, and only the
    selection that pools them can differ."""
    selector = build_design([CRM, {"stage": "stop_at_n", "n": 18}])
    plain = Conduct("expansion, escalation's selection", expansion=ExpansionCohort(
        ExpansionPlan((2, 3), ("NSCLC", "melanoma", "breast")), 13, (0.5, 0.3, 0.2)))
    result = final(simulate_designs([selector], [Scenario((0.05, 0.1, 0.25, 0.5, 0.7))], TrialSettings(), 400, 3,
                                    target=0.25, conducts=[ESCALATION_ONLY, plain, WITH_EXPANSION]))
    only, expanded, selected = (pair.trials for pair in result.pairs)
    for other in (expanded, selected):
        assert np.array_equal(other.phase_n[:, ESCALATION], only.n_at)
        assert np.array_equal(other.phase_tox[:, ESCALATION], only.tox_at)
        assert np.array_equal(other.phase_n[:, EXPANDED].sum(axis=1), np.where(only.recommended > 0, 13, 0))
    assert np.array_equal(expanded.recommended, only.recommended)
    assert not np.array_equal(selected.recommended, only.recommended)
    alone = final(simulate_designs([selector], [Scenario((0.05, 0.1, 0.25, 0.5, 0.7))], TrialSettings(), 400, 3))
    assert same_trials(alone.pairs[0].trials, only)


def test_expansion_randomises_by_stratum_in_balanced_blocks() -> None:
    cohort = ExpansionCohort(ExpansionPlan((2, 3), ("a", "b")), 400, (0.8, 0.2))
    conduct = Conduct("expansion", expansion=cohort)
    selector = build_design([CRM, {"stage": "stop_at_n", "n": 9}])
    trials = final(simulate_designs([selector], [Scenario((0.05, 0.1, 0.25, 0.5, 0.7))], TrialSettings(), 50, 8,
                                    conducts=[conduct])).pairs[0].trials
    expanded = trials.phase_n[:, EXPANDED]
    assert set(np.flatnonzero(expanded.sum(axis=0))) == {1, 2}
    # blocks of 2 or 4 in each of two strata: the arms differ by at most 2 per stratum, 4 in all
    assert np.abs(expanded[:, 1] - expanded[:, 2]).max() <= 4


def test_branch_streams_and_allocation_seeds_are_numpys() -> None:
    for seed in (0, 99, 2**64 - 1):
        branches = child_states(seed, 4, 9, (2,))
        assert np.array_equal(branches, [np.random.SeedSequence(seed).spawn(9)[i].spawn(3)[2].generate_state(
            4, np.uint64) for i in range(4, 9)])
        expected = [int(np.random.SeedSequence(seed, spawn_key=(i, 0)).generate_state(1, np.uint64)[0]) >> 1
                    for i in range(4, 9)]
        assert allocation_seeds(seed, 4, 9) == expected


def test_conduct_problems_name_their_fields() -> None:
    with pytest.raises(InputError, match="sum to 0.9"):
        ExpansionCohort(ExpansionPlan((1, 2)), 10, (0.9,))
    with pytest.raises(InputError) as raised:
        ExpansionCohort(ExpansionPlan((1, 2), ("x", "y")), 10, (0.9,))
    assert raised.value.violations[0].field == "stratum_probabilities"
    with pytest.raises(InputError) as raised:
        arm_beyond_the_doses = Conduct(expansion=ExpansionCohort(ExpansionPlan((5, 6)), 9))
        final(simulate_designs([design("crm")], [Scenario((0.1, 0.2, 0.3, 0.4, 0.5))], TrialSettings(), 10, 1,
                               conducts=[ESCALATION_ONLY, arm_beyond_the_doses]))
    assert raised.value.violations[0].field == "conducts[1].expansion.arms"
    with pytest.raises(InputError) as raised:
        final(simulate_designs([design("crm")], [Scenario((0.1, 0.2, 0.3, 0.4, 0.5))], TrialSettings(), 10, 1,
                               conducts=[WITH_FUTILITY]))
    assert raised.value.violations[0].field == "scenarios[0].true_prob_eff"


def test_backfill_adds_patients_below_the_mtd_without_losing_accuracy() -> None:
    """Dehbi, O'Quigley & Iasonos (2021): backfill patients below the MTD, pooled in the CRM, keep (here:
    raise) the probability of correct selection.  A well-separated MTD (dose 3), 30 escalation patients
    either way, the total capped at 45 by stop_at_n; 2000 trials on common random numbers."""
    selector = build_design([{"stage": "crm", "skeleton": [0.05, 0.1, 0.2, 0.35, 0.5], "target": 0.25},
                             {"stage": "dont_skip_doses"}, {"stage": "stop_at_n", "n": 45}])
    backfill = Conduct("with backfill", BackfillArrivals(BackfillPlan(cap_per_dose=6, safety=SAFETY), 2))
    result = final(simulate_designs([selector], [Scenario((0.05, 0.10, 0.25, 0.50, 0.70))],
                                    TrialSettings(max_patients=30), 2000, 2021, target=0.25,
                                    conducts=[ESCALATION_ONLY, backfill]))
    only, with_backfill = (pair.summary for pair in result.pairs)
    (difference,) = result.contrasts
    gain = difference.contrast
    assert only.mean_patients_below_mtd is not None and with_backfill.mean_patients_below_mtd is not None
    assert with_backfill.mean_patients_below_mtd.value > only.mean_patients_below_mtd.value + 5
    assert gain.mean_patients_below_mtd is not None and gain.mean_patients_below_mtd.value > 5
    assert gain.prob_correct_selection is not None
    assert gain.prob_correct_selection.value > -2 * gain.prob_correct_selection.mc_se
    assert only.patients_by_phase[ESCALATION].value == 30
    assert with_backfill.patients_by_phase[ESCALATION].value <= 30
    assert with_backfill.patients_by_phase[BACKFILLED].value > 5
