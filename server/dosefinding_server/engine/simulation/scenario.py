"""What a simulation is run against: a true dose-toxicity (and efficacy) scenario and the trial settings.

A scenario is the truth a design never sees: the probability of toxicity
(and, for phase I/II designs, of efficacy) at each dose.  The settings are
escalation's ``simulate_trials`` arguments (Brock 2019): patients arrive in
cohorts of ``cohort_size``, the first cohort may be given ``start_dose``
(escalation's ``next_dose``), and a trial ends when its design stops it, when
it has ``max_patients`` patients, or after ``max_dose_decisions`` fits
(escalation's safety net of 30 "dose decisions", counting the fit before the
first patient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

#: escalation's limit on the number of fits in one simulated trial (``i_like_big_trials = FALSE``)
DEFAULT_MAX_DOSE_DECISIONS = 30
#: the most patients one simulated trial may have (bounds the random numbers drawn per trial)
MAX_TRIAL_PATIENTS = 10_000
#: the largest cohort (a cohort's outcome pattern is packed into one integer)
MAX_COHORT_SIZE = 16


def _check_probabilities(values: tuple[float, ...], field: str) -> None:
    for index, p in enumerate(values):
        if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 <= p <= 1.0):
            raise InputError(f"{field}[{index}]", f"{p!r} is not a probability in [0, 1]")


@dataclass(frozen=True)
class Scenario:
    """True probabilities per dose; ``correct_doses`` (1-based), if given, are the right answers."""

    true_prob_tox: tuple[float, ...]
    true_prob_eff: tuple[float, ...] | None = None
    label: str = ""
    correct_doses: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "true_prob_tox", tuple(self.true_prob_tox))
        if not self.true_prob_tox:
            raise InputError("true_prob_tox", "needs one probability per dose")
        _check_probabilities(self.true_prob_tox, "true_prob_tox")
        if self.true_prob_eff is not None:
            object.__setattr__(self, "true_prob_eff", tuple(self.true_prob_eff))
            if len(self.true_prob_eff) != self.num_doses:
                raise InputError("true_prob_eff", f"has {len(self.true_prob_eff)} doses, "
                                                  f"true_prob_tox has {self.num_doses}")
            _check_probabilities(self.true_prob_eff, "true_prob_eff")
        object.__setattr__(self, "correct_doses", tuple(sorted(set(self.correct_doses))))
        for index, dose in enumerate(self.correct_doses):
            if not 1 <= dose <= self.num_doses:
                raise InputError(f"correct_doses[{index}]", f"dose {dose} is outside 1..{self.num_doses}")

    @property
    def num_doses(self) -> int:
        return len(self.true_prob_tox)

    def target_doses(self, target: float | None) -> tuple[int, ...]:
        """The doses a correct selection names: those given, else those whose true toxicity is
        closest to ``target`` (ties within 1e-9 all count), else none."""
        if self.correct_doses or target is None:
            return self.correct_doses
        gaps = [abs(p - target) for p in self.true_prob_tox]
        closest = min(gaps)
        return tuple(d for d, gap in enumerate(gaps, 1) if gap - closest <= 1e-9)


@dataclass(frozen=True)
class TrialSettings:
    """escalation's simulation settings (``cohorts_of_n(cohort_size)``, ``next_dose``, the decision limit)."""

    cohort_size: int = 3
    max_patients: int | None = None
    start_dose: int | None = None
    max_dose_decisions: int | None = DEFAULT_MAX_DOSE_DECISIONS

    def __post_init__(self) -> None:
        if not 1 <= self.cohort_size <= MAX_COHORT_SIZE:
            raise InputError("cohort_size", f"{self.cohort_size} is outside 1..{MAX_COHORT_SIZE}")
        if self.max_patients is not None and self.max_patients < 1:
            raise InputError("max_patients", f"{self.max_patients} is not 1 or more")
        if self.max_dose_decisions is not None and self.max_dose_decisions < 1:
            raise InputError("max_dose_decisions", f"{self.max_dose_decisions} is not 1 or more")
        if self.start_dose is not None and self.start_dose < 1:
            raise InputError("start_dose", f"dose {self.start_dose} is not 1 or more")
        if self.capacity > MAX_TRIAL_PATIENTS:
            raise InputError("max_patients", f"a trial could reach {self.capacity} patients; "
                                             f"the limit is {MAX_TRIAL_PATIENTS} (set max_patients)")

    @property
    def capacity(self) -> int:
        """The most patients a trial can have under these limits."""
        by_decisions = math.inf if self.max_dose_decisions is None else \
            (self.max_dose_decisions - 1) * self.cohort_size
        by_patients = math.inf if self.max_patients is None else self.max_patients
        limit = min(by_decisions, by_patients)
        if limit == math.inf:
            raise InputError("max_dose_decisions", "set max_patients or max_dose_decisions: a trial must end")
        return int(limit)
