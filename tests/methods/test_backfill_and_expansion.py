"""Backfill state and allocation; randomised expansion's balance, reproducibility and independence."""

from __future__ import annotations

from collections import Counter

import pytest

from dosefinding_server.engine.backfill import BackfillPlan, allocate, backfill_doses
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.expansion import MAX_BLOCK_MULTIPLE, ExpansionPlan, assignment, sequence
from dosefinding_server.engine.outcomes import BACKFILL, Outcomes, Patient, parse_outcome_string
from dosefinding_server.engine.stopping.posterior import PosteriorRule, Rule

PLAN = BackfillPlan(cap_per_dose=3, safety=PosteriorRule(Rule.TOXICITY, 0.3, 0.9, 1, 1))


def test_cleared_doses_below_the_escalation_dose_are_open():
    states = backfill_doses(PLAN, parse_outcome_string("1NNN 2NNN 3NN", 5), escalation_dose=3, num_doses=5)
    assert [(s.dose, s.open) for s in states] == [(1, True), (2, True)]
    not_cleared = backfill_doses(PLAN, parse_outcome_string("1NN", 5), escalation_dose=2, num_doses=5)
    assert not not_cleared[0].open and "not cleared" in not_cleared[0].reason


def test_an_unsafe_dose_closes_with_every_dose_above_it():
    outcomes = parse_outcome_string("1NNN 2NNN 2TTT 2TNT 1NNN", 5)  # dose 2: P(tox > 0.3) = 0.97
    states = backfill_doses(PLAN, outcomes, escalation_dose=3, num_doses=5)
    assert states[0].open
    assert not states[1].open and "closed for safety" in states[1].reason
    raised = backfill_doses(PLAN, outcomes, escalation_dose=4, num_doses=5)
    assert [s.open for s in raised] == [True, False, False]


def test_a_full_dose_closes():
    outcomes = Outcomes(parse_outcome_string("1NNN 2NNN", 5).patients
                        + tuple(Patient(1, False, phase=BACKFILL) for _ in range(3)))
    states = backfill_doses(PLAN, outcomes, escalation_dose=3, num_doses=5)
    assert not states[0].open and states[0].backfilled == 3 and states[1].open


def test_backfill_patients_do_not_steer_escalation():
    outcomes = Outcomes(parse_outcome_string("1NNN 2NNN", 5).patients + (Patient(1, False, phase=BACKFILL),))
    assert outcomes.last_dose == 2


def test_allocation_is_reproducible_and_uses_only_open_doses():
    draws = [allocate([1, 2, 3], seed=11, patient_index=i) for i in range(300)]
    assert draws == [allocate([1, 2, 3], seed=11, patient_index=i) for i in range(300)]
    assert set(draws) == {1, 2, 3}
    assert min(Counter(draws).values()) > 60
    with pytest.raises(InputError):
        allocate([], seed=11, patient_index=0)


EXPANSION = ExpansionPlan(arms=(2, 3), strata=("NSCLC", "melanoma"), block_multiples=(1, 2, 3))


def test_every_block_is_balanced_so_imbalance_never_exceeds_half_the_largest_block():
    for seed in range(20):
        assigned = sequence(EXPANSION, seed, "NSCLC", 200)
        for end in range(1, 201):
            counts = Counter(assigned[:end])
            assert abs(counts[2] - counts[3]) <= 3  # largest block: 3 * 2 arms


def test_the_same_seed_gives_the_same_sequence_and_assignment_matches_it():
    first = sequence(EXPANSION, 7, "NSCLC", 40)
    assert first == sequence(EXPANSION, 7, "NSCLC", 40)
    assert [assignment(EXPANSION, 7, "NSCLC", i) for i in range(40)] == first
    assert sequence(EXPANSION, 8, "NSCLC", 40) != first


def test_strata_draw_independent_streams():
    a, b = sequence(EXPANSION, 7, "NSCLC", 60), sequence(EXPANSION, 7, "melanoma", 60)
    assert a != b
    with pytest.raises(InputError):
        sequence(EXPANSION, 7, "breast", 1)


@pytest.mark.parametrize("kwargs, field", [
    ({"arms": (2,)}, "arms"), ({"arms": (2, 2)}, "arms"),
    ({"arms": (1, 2), "block_multiples": (0,)}, "block_multiples"),
    ({"arms": (1, 2), "block_multiples": (1, 10**9)}, "block_multiples"),
    ({"arms": (1, 2), "strata": ("NSCLC", " ")}, "strata"),
], ids=["one-arm", "repeated-arm", "no-block", "block-of-2e9-patients", "blank-stratum"])
def test_impossible_plans_name_the_field(kwargs, field):
    with pytest.raises(InputError) as caught:
        ExpansionPlan(**kwargs)
    assert caught.value.violations[0].field == field


def test_the_largest_block_allowed_is_drawn_whole_and_balanced():
    plan = ExpansionPlan(arms=(1, 2, 3), block_multiples=(MAX_BLOCK_MULTIPLE,))
    block = sequence(plan, 7, "all", 3 * MAX_BLOCK_MULTIPLE)
    assert sorted(block) == sorted([1, 2, 3] * MAX_BLOCK_MULTIPLE)
