"""Controlled backfill (Dehbi, O'Quigley and Iasonos 2021, Contemp Clin Trials 111:106562).

While escalation continues, patients who cannot join the escalation cohort are
treated at doses already cleared below the current escalation dose.  Their
toxicities feed the escalation model; the final recommendation pools all
patients.  A dose is *cleared* once at least ``clear_after`` escalation
patients were treated there and escalation has moved above it.  A cleared dose
is open for backfill until it reaches its cap, or closes when it looks unsafe
(posterior-probability rule on its pooled data: P(p_tox > theta | data) >
confidence, Beta prior) or, optionally, futile (P(p_eff < theta_e | data) >
confidence).  A dose closed for safety closes every dose above it too.
Backfill patients are allocated at random among open doses, from a seeded
stream per patient so that an allocation never depends on any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import InputError
from .outcomes import ESCALATION, Outcomes
from .selector import require
from .stopping.posterior import PosteriorRule, Rule


@dataclass(frozen=True)
class BackfillPlan:
    """When backfill opens, how many it may take per dose, and when a dose closes."""

    cap_per_dose: int
    safety: PosteriorRule
    clear_after: int = 3
    futility: PosteriorRule | None = None

    def __post_init__(self) -> None:
        require(self.cap_per_dose >= 1, "cap_per_dose", f"{self.cap_per_dose} is not 1 or more")
        require(self.clear_after >= 1, "clear_after", f"{self.clear_after} is not 1 or more")
        require(self.safety.rule is Rule.TOXICITY, "safety", "the safety rule is a toxicity rule")
        require(self.futility is None or self.futility.rule is Rule.FUTILITY, "futility",
                "the activity rule is a futility rule")


@dataclass(frozen=True)
class BackfillDose:
    """One dose's backfill state: open or not, and why."""

    dose: int
    open: bool
    backfilled: int
    reason: str


def backfill_doses(plan: BackfillPlan, outcomes: Outcomes, escalation_dose: int | None,
                   num_doses: int) -> list[BackfillDose]:
    """The backfill state of every dose below the current escalation dose."""
    if escalation_dose is None:
        return []
    n, tox = outcomes.n_at_dose(num_doses), outcomes.tox_at_dose(num_doses)
    eff = outcomes.eff_at_dose(num_doses)
    escalation_n = [0] * num_doses
    backfilled = [0] * num_doses
    for patient in outcomes.patients:
        if patient.phase == ESCALATION:
            escalation_n[patient.dose - 1] += 1
        else:
            backfilled[patient.dose - 1] += 1
    states: list[BackfillDose] = []
    unsafe_below = False
    for index in range(escalation_dose - 1):
        dose = index + 1
        p_tox = plan.safety.probability(n[index], tox[index])
        unsafe_below = unsafe_below or p_tox > plan.safety.confidence
        if unsafe_below:
            reason = (f"closed for safety: P(tox > {plan.safety.theta:g}) = {p_tox:.3f} > {plan.safety.confidence:g}"
                      if p_tox > plan.safety.confidence else "closed: a lower dose is closed for safety")
            states.append(BackfillDose(dose, False, backfilled[index], reason))
        elif escalation_n[index] < plan.clear_after:
            states.append(BackfillDose(dose, False, backfilled[index],
                                       f"not cleared: {escalation_n[index]} escalation patients < {plan.clear_after}"))
        elif backfilled[index] >= plan.cap_per_dose:
            states.append(BackfillDose(dose, False, backfilled[index], f"full: {backfilled[index]} backfilled"))
        elif plan.futility is not None and plan.futility.stops(n[index], eff[index]):
            p_futile = plan.futility.probability(n[index], eff[index])
            states.append(BackfillDose(dose, False, backfilled[index],
                                       f"closed for futility: P(eff < {plan.futility.theta:g}) = {p_futile:.3f}"))
        else:
            states.append(BackfillDose(dose, True, backfilled[index],
                                       f"open: {backfilled[index]} of {plan.cap_per_dose} backfilled"))
    return states


def allocation_stream(seed: int, patient_index: int) -> np.random.Generator:
    """The random stream of one allocated patient: a child of the trial's seed, keyed by the patient's index."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(patient_index,)))


def allocate(open_doses: Sequence[int], seed: int, patient_index: int) -> int:
    """Randomise one backfill patient, with equal probability, among the open doses."""
    if not open_doses:
        raise InputError("phase", "no dose is open for backfill now")
    return int(open_doses[int(allocation_stream(seed, patient_index).integers(len(open_doses)))])
