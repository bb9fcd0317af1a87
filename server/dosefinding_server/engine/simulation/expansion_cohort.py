"""Randomised expansion after simulated escalation, for a chunk of trials.

Each trial whose escalation ended with a recommended dose randomises
``size`` expansion patients (:class:`.conduct.ExpansionCohort`).  Expansion
patient j draws row j of the trial's expansion stream (:mod:`.randomness`):
``(u_stratum, u_tox, u_eff)``.  Its stratum is the first whose cumulative
probability exceeds ``u_stratum``; its arm is the next assignment of that
stratum's sequence, :func:`..expansion.sequence` under the trial's allocation
seed (what the trial service would assign with that seed); its toxicity
(efficacy) is ``u_tox < p_tox[arm]`` (``u_eff < p_eff[arm]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..expansion import sequence
from ..outcomes import EXPANSION, Patient
from .conduct import ExpansionCohort
from .scenario import Scenario


@dataclass(frozen=True)
class Expanded:
    """The expansion of one chunk: per trial, the arm and outcomes of each patient (trials × size; arm 0 for
    trials that had no expansion)."""

    arm: np.ndarray
    tox: np.ndarray
    eff: np.ndarray

    def patients(self, row: int, efficacy: bool) -> list[Patient]:
        """Trial ``row``'s expansion patients in order of arrival (efficacy ``None`` unless it is read)."""
        return [Patient(int(arm), bool(tox), bool(eff) if efficacy else None, phase=EXPANSION)
                for arm, tox, eff in zip(self.arm[row], self.tox[row], self.eff[row]) if arm]


def expand(cohort: ExpansionCohort, scenario: Scenario, expanding: np.ndarray, uniforms: np.ndarray,
           seeds: list[int]) -> Expanded:
    """Randomise the expansion patients of the trials where ``expanding`` holds (``uniforms``: trials × size
    × (stratum, toxicity, efficacy); ``seeds``: allocation seeds)."""
    plan = cohort.plan
    edges = np.cumsum(cohort.shares)
    stratum = np.minimum(np.searchsorted(edges, uniforms[:, :, 0], side="right"), len(plan.strata) - 1)
    arm = np.zeros(stratum.shape, dtype=np.int64)
    for row in np.flatnonzero(expanding).tolist():
        for index, name in enumerate(plan.strata):
            members = np.flatnonzero(stratum[row] == index)
            if len(members):
                arm[row, members] = sequence(plan, seeds[row], name, len(members))
    at = np.maximum(arm, 1) - 1
    tox = (uniforms[:, :, 1] < np.asarray(scenario.true_prob_tox)[at]) & (arm > 0)
    p_eff = scenario.true_prob_eff
    eff = (uniforms[:, :, 2] < np.asarray(p_eff)[at]) & (arm > 0) if p_eff is not None else np.zeros_like(tox)
    return Expanded(arm, tox, eff)

