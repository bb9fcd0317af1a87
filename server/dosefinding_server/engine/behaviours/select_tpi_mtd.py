"""select_tpi_mtd: choose the MTD by TPI's rule (Ji, Li & Bekele 2007, section 2.3), and what
select_mtpi_mtd and select_mtpi2_mtd share with it.

At the end of an interval-design trial the MTD is chosen from isotonically
transformed posterior means: each dose's Beta(alpha + y, beta + n - y) mean
(alpha = beta = 1 by default), PAVA-smoothed with weights equal to the inverse
posterior variance, over every dose or, with ``pava_just_tested_doses``,
over the tested doses only.  Among the admissible doses (the exclusion rule
with this stage's ``exclusion_certainty``, at ``target``) the dose whose
estimate is closest to the target toxicity is the MTD.  TPI and mTPI-2
(Guo et al. 2017) break ties the same way: if the tied estimates average
below the target, the highest tied dose, otherwise the lowest.  mTPI breaks
them differently (:mod:`.select_mtpi_mtd`).

``when = "finally"`` applies the rule only once the parent has stopped with a
dose (it never revives a trial stopped with no dose); ``"always"`` applies it
to every decision once there are patients.  ``continue`` is always the
parent's.  The stage also replaces the parent's ``mean_prob_tox``,
``prob_tox_exceeds`` and ``dose_admissible`` with its own estimates.

As in escalation, the rule measures distance from the *parent's* target
toxicity; ``target`` only sets the exclusion rule (and stands in for a
parent that has none when excluding doses).  A parent without a target
(3+3) therefore yields no dose whenever the rule applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import InputError
from ..fit import AdmissibleVector, DerivedFit, Fit, ProbVector, dose_text
from ..numerics import beta_binomial as bb
from ..registry import register
from ..selector import Behaviour, Feature, require
from ._common import BehaviourFit, require_flag, require_number

WHEN = ("finally", "always")


@dataclass(frozen=True, kw_only=True)
class MtdSelection(Behaviour):
    """A final-dose rule over isotonic beta-binomial estimates; subclasses break ties."""

    #: the design whose MTD rule this is, in reasons
    title: ClassVar[str]
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})

    exclusion_certainty: float
    when: str = "finally"
    target: float | None = None
    alpha: float = 1.0
    beta: float = 1.0
    pava_just_tested_doses: bool = False

    def __post_init__(self) -> None:
        require(self.when in WHEN, "when", f"{self.when!r} is not one of {', '.join(WHEN)}")
        require_number(self.exclusion_certainty, "exclusion_certainty")
        require(self.exclusion_certainty > 0, "exclusion_certainty",
                f"{self.exclusion_certainty} is not positive (above 1 disables exclusion)")
        if self.target is not None:
            require_number(self.target, "target")
            require(0 < self.target < 1, "target", f"{self.target} is not strictly between 0 and 1")
        require(self.alpha > 0, "alpha", f"{self.alpha} is not a positive Beta shape")
        require(self.beta > 0, "beta", f"{self.beta} is not a positive Beta shape")
        require_flag(self.pava_just_tested_doses, "pava_just_tested_doses")

    def wrap(self, parent: Fit) -> DerivedFit:
        return MtdFit(parent, self)

    def break_tie(self, tied: list[int], means: ProbVector, target: float) -> int:
        """Among doses tied closest to ``target``: if their estimates average below it, the highest, else the lowest."""
        average = bb.r_mean([means[d - 1] for d in tied])  # type: ignore[misc]
        return tied[-1] if average < target else tied[0]


class MtdFit(BehaviourFit[MtdSelection]):
    """The parent's fit with the MTD rule applied to its dose."""

    def __init__(self, parent: Fit, rule: MtdSelection) -> None:
        super().__init__(parent, rule)
        self._n, self._tox = self.n_at_dose(), self.tox_at_dose()
        target = rule.target if rule.target is not None else parent.tox_target()
        if target is None:
            raise InputError("target", f"{rule.kind} needs a target toxicity; the design before it has none")
        self.exclusion_target = target
        self._exceeds = bb.memoised(lambda t: bb.pava_exceeds(rule.alpha, rule.beta, self._n, self._tox, t))
        self._dose, self._why = self._choose()

    def _applies(self) -> bool:
        if self.rule.when == "always":
            return self.num_patients > 0
        return not self.parent.continues() and self.parent.recommended_dose() is not None

    def _choose(self) -> tuple[int | None, str]:
        parent_dose = self.parent.recommended_dose()
        if not self._applies():
            return parent_dose, f"{dose_text(parent_dose)} from the parent stands (rule applies {self.rule.when})"
        target = self.tox_target()
        if target is None:
            return None, "the parent design has no target toxicity to choose an MTD against: no dose"
        means, admissible = self.mean_prob_tox(), self.dose_admissible()
        distance = {d: abs(m - target) for d, (m, ok) in enumerate(zip(means, admissible), 1)
                    if ok and m is not None}
        if not distance:
            return None, "no admissible dose has an estimate: no dose"
        closest = min(distance.values())
        tied = [d for d, gap in distance.items() if gap == closest]
        dose = tied[0] if len(tied) == 1 else self.rule.break_tie(tied, means, target)
        return dose, (f"{self.rule.title}'s MTD rule: isotonic estimate {means[dose - 1]:.3f} closest to "
                      f"{target:g} among admissible doses{' (tie broken)' if len(tied) > 1 else ''}: "
                      f"dose {dose} (the parent recommended {dose_text(parent_dose)})")

    def recommended_dose(self) -> int | None:
        return self._dose

    def explain(self) -> str:
        return self._why

    def mean_prob_tox(self) -> ProbVector:
        r = self.rule
        return bb.pava_means(r.alpha, r.beta, self._n, self._tox, tested_only=r.pava_just_tested_doses)

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        return self._exceeds(threshold)

    def dose_admissible(self) -> AdmissibleVector:
        return bb.excluded_above(self._n, self._exceeds(self.exclusion_target), self.rule.exclusion_certainty)


@register
@dataclass(frozen=True, kw_only=True)
class SelectTpiMtd(MtdSelection):
    """TPI's MTD rule (Ji et al. 2007)."""

    kind: ClassVar[str] = "select_tpi_mtd"
    title: ClassVar[str] = "TPI"
