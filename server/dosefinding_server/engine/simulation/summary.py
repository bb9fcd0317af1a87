"""Operating characteristics of a design in a scenario, each with its Monte Carlo standard error.

The quantities of escalation's ``simulations`` methods (Brock 2019:
``prob_recommend``, ``prob_administer``, mean patients and toxicities per
dose, sample size, toxicities) and the usual ones of the dose-finding
literature: the probability of correct selection (the dose or doses whose
true toxicity is closest to the target, or the set given with the scenario)
and the share of patients treated above the highest correct dose
("overdosed"; e.g. Liu & Yuan 2015, Table 4).  ``prob_administer`` and
"overdosed" pool patients over trials, as escalation does, so they are
ratio estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estimates import Estimate, column_means, mean, proportion, ratio
from .records import StopReason, Trials
from .scenario import Scenario


@dataclass(frozen=True)
class DoseOperatingCharacteristics:
    """What happened at one dose over the simulated trials."""

    dose: int
    prob_recommend: Estimate
    mean_patients: Estimate
    mean_toxicities: Estimate
    mean_efficacies: Estimate | None
    prob_administer: Estimate


@dataclass(frozen=True)
class StopCount:
    """How many trials ended for one reason, and their share."""

    reason: StopReason
    count: int
    share: Estimate


@dataclass(frozen=True)
class Summary:
    """Operating characteristics of one design in one scenario."""

    num_trials: int
    prob_no_dose: Estimate
    doses: tuple[DoseOperatingCharacteristics, ...]
    correct_doses: tuple[int, ...]
    prob_correct_selection: Estimate | None
    mean_sample_size: Estimate
    mean_toxicities: Estimate
    mean_efficacies: Estimate | None
    prob_overdosed: Estimate | None
    stop_reasons: tuple[StopCount, ...]


def summarise(trials: Trials, scenario: Scenario, target: float | None = None) -> Summary:
    """The operating characteristics of ``trials`` (all of one design in ``scenario``)."""
    efficacy = scenario.true_prob_eff is not None
    patients = trials.n_at.sum(axis=1)
    patients_at, tox_at, eff_at = (column_means(m) for m in (trials.n_at, trials.tox_at, trials.eff_at))
    doses = tuple(
        DoseOperatingCharacteristics(
            dose=d,
            prob_recommend=proportion(trials.recommended == d),
            mean_patients=patients_at[d - 1],
            mean_toxicities=tox_at[d - 1],
            mean_efficacies=eff_at[d - 1] if efficacy else None,
            prob_administer=ratio(trials.n_at[:, d - 1], patients),
        )
        for d in range(1, trials.num_doses + 1)
    )
    correct = scenario.target_doses(target)
    return Summary(
        num_trials=len(trials),
        prob_no_dose=proportion(trials.recommended == 0),
        doses=doses,
        correct_doses=correct,
        prob_correct_selection=proportion(np.isin(trials.recommended, correct)) if correct else None,
        mean_sample_size=mean(patients),
        mean_toxicities=mean(trials.tox_at.sum(axis=1)),
        mean_efficacies=mean(trials.eff_at.sum(axis=1)) if efficacy else None,
        prob_overdosed=ratio(trials.n_at[:, max(correct):].sum(axis=1), patients) if correct else None,
        stop_reasons=stop_counts(trials),
    )


def stop_counts(trials: Trials) -> tuple[StopCount, ...]:
    """How many trials ended for each reason that occurred."""
    codes, counts = np.unique(trials.reason, return_counts=True)
    return tuple(StopCount(trials.reasons[code], int(count), proportion(trials.reason == code))
                 for code, count in zip(codes.tolist(), counts.tolist()))
