"""Operating characteristics of a design in a scenario, each with its Monte Carlo standard error.

The quantities of escalation's ``simulations`` methods (Brock 2019:
``prob_recommend``, ``prob_administer``, mean patients and toxicities per
dose, sample size, toxicities) and the usual ones of the dose-finding
literature: the probability of correct selection (the dose or doses whose
true toxicity is closest to the target, or the set given with the scenario),
the share of patients treated above the highest correct dose ("overdosed";
e.g. Liu & Yuan 2015, Table 4) and the number treated below the lowest
correct dose (the doses backfill fills; Dehbi, O'Quigley & Iasonos 2021).
Patients and toxicities are also split by phase (escalation, backfill,
expansion).  ``prob_administer`` and "overdosed" pool patients over trials,
as escalation does, so they are ratio estimates.

A :class:`Contrast` compares two runs on the same seed trial by trial (the
same simulated patients, :mod:`.randomness`): each difference is the mean of
per-trial differences, whose standard error is usually far smaller than that
of the difference of two independent estimates.
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
    patients_by_phase: tuple[Estimate, ...]  # mean patients per trial in each phase (``PHASES`` order)
    toxicities_by_phase: tuple[Estimate, ...]


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
    patients_by_phase: tuple[Estimate, ...]  # mean patients per trial in each phase (``PHASES`` order)
    toxicities_by_phase: tuple[Estimate, ...]
    mean_patients_below_mtd: Estimate | None  # patients below the lowest correct dose, every phase


def summarise(trials: Trials, scenario: Scenario, target: float | None = None) -> Summary:
    """The operating characteristics of ``trials`` (all of one design in ``scenario``)."""
    efficacy = scenario.true_prob_eff is not None
    patients = trials.n_at.sum(axis=1)
    patients_at, tox_at, eff_at = (column_means(m) for m in (trials.n_at, trials.tox_at, trials.eff_at))
    phase_n, phase_tox = trials.by_phase()
    by_phase = [(column_means(phase_n[:, :, d]), column_means(phase_tox[:, :, d]))
                for d in range(trials.num_doses)]
    doses = tuple(
        DoseOperatingCharacteristics(
            dose=d,
            prob_recommend=proportion(trials.recommended == d),
            mean_patients=patients_at[d - 1],
            mean_toxicities=tox_at[d - 1],
            mean_efficacies=eff_at[d - 1] if efficacy else None,
            prob_administer=ratio(trials.n_at[:, d - 1], patients),
            patients_by_phase=tuple(by_phase[d - 1][0]),
            toxicities_by_phase=tuple(by_phase[d - 1][1]),
        )
        for d in range(1, trials.num_doses + 1)
    )
    correct = scenario.target_doses(target)
    per_trial = PerTrial.of(trials, correct)
    return Summary(
        num_trials=len(trials),
        prob_no_dose=proportion(trials.recommended == 0),
        doses=doses,
        correct_doses=correct,
        prob_correct_selection=proportion(per_trial.correct) if per_trial.correct is not None else None,
        mean_sample_size=mean(patients),
        mean_toxicities=mean(per_trial.toxicities),
        mean_efficacies=mean(trials.eff_at.sum(axis=1)) if efficacy else None,
        prob_overdosed=ratio(trials.n_at[:, max(correct):].sum(axis=1), patients) if correct else None,
        stop_reasons=stop_counts(trials),
        patients_by_phase=tuple(column_means(phase_n.sum(axis=2))),
        toxicities_by_phase=tuple(column_means(phase_tox.sum(axis=2))),
        mean_patients_below_mtd=mean(per_trial.below_mtd) if per_trial.below_mtd is not None else None,
    )


@dataclass(frozen=True)
class PerTrial:
    """The per-trial quantities that summaries and contrasts average."""

    correct: np.ndarray | None  # recommends a correct dose (None without correct doses)
    below_mtd: np.ndarray | None  # patients below the lowest correct dose
    sample_size: np.ndarray
    toxicities: np.ndarray

    @classmethod
    def of(cls, trials: Trials, correct: tuple[int, ...]) -> "PerTrial":
        return cls(
            correct=np.isin(trials.recommended, correct) if correct else None,
            below_mtd=trials.n_at[:, :min(correct) - 1].sum(axis=1) if correct else None,
            sample_size=trials.n_at.sum(axis=1),
            toxicities=trials.tox_at.sum(axis=1),
        )


@dataclass(frozen=True)
class Contrast:
    """One run minus a baseline run on the same seed, trial by trial (paired differences)."""

    prob_correct_selection: Estimate | None
    mean_patients_below_mtd: Estimate | None
    mean_sample_size: Estimate
    mean_toxicities: Estimate


def contrast(baseline: Trials, other: Trials, scenario: Scenario, target: float | None = None) -> Contrast:
    """``other`` minus ``baseline``: both simulated on one seed, so trial i of each treats the same patients."""
    correct = scenario.target_doses(target)
    a, b = PerTrial.of(baseline, correct), PerTrial.of(other, correct)
    return Contrast(
        prob_correct_selection=_difference(a.correct, b.correct) if correct else None,
        mean_patients_below_mtd=_difference(a.below_mtd, b.below_mtd) if correct else None,
        mean_sample_size=_difference(a.sample_size, b.sample_size),
        mean_toxicities=_difference(a.toxicities, b.toxicities),
    )


def _difference(x: np.ndarray | None, y: np.ndarray | None) -> Estimate:
    """The mean of the per-trial differences ``y - x``."""
    assert x is not None and y is not None
    return mean(y.astype(float) - x.astype(float))


def stop_counts(trials: Trials) -> tuple[StopCount, ...]:
    """How many trials ended for each reason that occurred."""
    codes, counts = np.unique(trials.reason, return_counts=True)
    return tuple(StopCount(trials.reasons[code], int(count), proportion(trials.reason == code))
                 for code, count in zip(codes.tolist(), counts.tolist()))
