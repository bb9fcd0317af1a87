"""How a simulated trial is conducted around its escalation: controlled backfill and randomised expansion.

A *conduct* says what happens besides the design's escalation cohorts, so
that one design can be compared with itself run three ways on common random
numbers (Iasonos & O'Quigley 2021, Br J Cancer 125:920-926; Dehbi,
O'Quigley & Iasonos 2021, Contemp Clin Trials 111:106562):

* **escalation only** (no backfill, no expansion);
* **with backfill**: while each escalation cohort is treated,
  ``per_cohort`` more patients arrive; each is allocated with
  :func:`..backfill.allocate` (equal probability) among the doses that
  :func:`..backfill.backfill_doses` finds open when the cohort starts and
  that still have room under the cap, or is turned away when none has.
  Backfill patients' outcomes join the design's data before its next
  decision, so they steer the model and count wherever the design counts
  patients (e.g. ``stop_at_n``), exactly as in a live trial, whose
  decisions pool every patient;
* **with randomised expansion**: once escalation ends with a recommended
  dose, ``size`` patients are randomised between the plan's arms by
  :func:`..expansion.sequence` (permuted blocks of random size within
  strata); each patient's stratum is drawn with ``stratum_probabilities``
  (equal when empty).  The scenario's truth is the same in every stratum.
  With ``select_with_expansion`` the final recommendation is the design's
  fit to every patient (escalation, backfill and expansion); otherwise it is
  the escalation's (which already pools backfill patients).

Allocation uses the trial's allocation seed (:mod:`.randomness`), as the
trial service uses a live trial's secret seed, so a simulated trial
allocates exactly as the service would with that seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backfill import BackfillPlan
from ..expansion import ExpansionPlan
from ..selector import require
from .scenario import MAX_TRIAL_PATIENTS


@dataclass(frozen=True)
class BackfillArrivals:
    """Controlled backfill: the plan, and how many patients arrive while each escalation cohort is treated."""

    plan: BackfillPlan
    per_cohort: int

    def __post_init__(self) -> None:
        require(1 <= self.per_cohort <= MAX_TRIAL_PATIENTS, "backfill_per_cohort",
                f"{self.per_cohort} is outside 1..{MAX_TRIAL_PATIENTS}")


@dataclass(frozen=True)
class ExpansionCohort:
    """Randomised expansion after escalation: the plan, its size, the strata's shares, and whether the final
    selection uses the expansion patients."""

    plan: ExpansionPlan
    size: int
    stratum_probabilities: tuple[float, ...] = ()
    select_with_expansion: bool = False

    def __post_init__(self) -> None:
        require(1 <= self.size <= MAX_TRIAL_PATIENTS, "expansion_size",
                f"{self.size} is outside 1..{MAX_TRIAL_PATIENTS}")
        shares = self.stratum_probabilities
        if shares:
            require(len(shares) == len(self.plan.strata), "stratum_probabilities",
                    f"{len(shares)} probabilities for {len(self.plan.strata)} strata")
            require(all(0.0 <= p <= 1.0 for p in shares), "stratum_probabilities", "each is a probability")
            require(math.isclose(math.fsum(shares), 1.0, abs_tol=1e-9), "stratum_probabilities",
                    f"they sum to {math.fsum(shares):g}, not 1")

    @property
    def shares(self) -> tuple[float, ...]:
        """Each stratum's probability (equal unless given)."""
        return self.stratum_probabilities or tuple(1.0 / len(self.plan.strata) for _ in self.plan.strata)


@dataclass(frozen=True)
class Conduct:
    """Escalation only (the default), or with backfill and/or randomised expansion."""

    label: str = ""
    backfill: BackfillArrivals | None = None
    expansion: ExpansionCohort | None = None

    def check(self, num_doses: int) -> None:
        """The expansion arms must be doses of the scenario."""
        if self.expansion is not None:
            top = max(self.expansion.plan.arms)
            require(top <= num_doses, "expansion.arms", f"dose {top} is outside 1..{num_doses}")

    @property
    def reads_efficacy(self) -> bool:
        """Whether the conduct needs each patient's efficacy (the backfill futility rule reads it)."""
        return self.backfill is not None and self.backfill.plan.futility is not None


#: escalation only
ESCALATION_ONLY = Conduct()
