"""Each trial owns the stream of SeedSequence(seed).spawn(n)[i]; designs on one seed treat the same patients."""

from __future__ import annotations

import numpy as np
import pytest

from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.simulation import Scenario, TrialSettings, final, simulate_designs
from dosefinding_server.engine.simulation.randomness import child_states, patient_uniforms

from .catalogue import CRM, BOIN, same_trials


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1, 2**32 + 7, 2**63 + 5, 2**64 - 1])
def test_each_patient_draws_from_its_trials_spawned_generator(seed: int) -> None:
    children = np.random.SeedSequence(seed).spawn(25)
    assert np.array_equal(child_states(seed, 0, 25), [c.generate_state(4, np.uint64) for c in children])
    tox_u, eff_u = patient_uniforms(seed, 5, 25, 11)
    for i in range(5, 25):
        expected = np.random.Generator(np.random.PCG64(children[i])).random((11, 2))
        assert np.array_equal(np.stack([tox_u[i - 5], eff_u[i - 5]], axis=1), expected)


def test_uniforms_do_not_depend_on_chunks_or_capacity() -> None:
    whole_tox, whole_eff = patient_uniforms(9, 0, 30, 40)
    tox, eff = patient_uniforms(9, 17, 23, 12)
    assert np.array_equal(tox, whole_tox[17:23, :12]) and np.array_equal(eff, whole_eff[17:23, :12])


def test_identical_designs_on_one_seed_give_identical_trials() -> None:
    stages = [CRM, {"stage": "stop_at_n", "n": 15}]
    result = final(simulate_designs([build_design(stages), build_design(stages)],
                                    [Scenario((0.05, 0.1, 0.3, 0.5, 0.6))], TrialSettings(), 200, 77))
    first, second = result.pairs
    assert same_trials(first.trials, second.trials)
    assert first.summary == second.summary


def test_different_designs_see_the_same_patients() -> None:
    """Both designs treat their first cohort at dose 1, so its toxicities agree trial by trial."""
    designs = [build_design([CRM, {"stage": "stop_at_n", "n": 3}]),
               build_design([BOIN, {"stage": "stop_at_n", "n": 3}])]
    result = final(simulate_designs(designs, [Scenario((0.3, 0.4, 0.5, 0.6, 0.7))], TrialSettings(), 500, 5))
    crm, boin = (pair.trials for pair in result.pairs)
    assert np.array_equal(crm.tox_at, boin.tox_at) and crm.tox_at.sum() > 50
    other_seed = final(simulate_designs(designs[:1], [Scenario((0.3, 0.4, 0.5, 0.6, 0.7))], TrialSettings(), 500, 6))
    assert not np.array_equal(other_seed.pairs[0].trials.tox_at, crm.tox_at)
