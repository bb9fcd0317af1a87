"""escalation's ``try_rescue_dose``: before giving up on every dose, try a rescue dose on n patients.

Only when the parent recommends no dose (e.g. a toxicity stopping rule fired)
and fewer than ``n`` patients have had ``dose``: recommend ``dose`` and
continue.  While ``dose`` has fewer than ``n`` patients it is admissible
whatever the parent says.  Otherwise the parent's answers stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fit import AdmissibleVector, DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature
from ._common import BehaviourFit, require_count
from ._dose_rule import check_dose_level


@register
@dataclass(frozen=True, kw_only=True)
class TryRescueDose(Behaviour):
    """Rescue a stopped trial at ``dose`` until it has ``n`` patients."""

    kind: ClassVar[str] = "try_rescue_dose"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    dose: int
    n: int

    def __post_init__(self) -> None:
        check_dose_level(self.dose)
        require_count(self.n, "n")

    def wrap(self, parent: Fit) -> DerivedFit:
        return TryRescueDoseFit(parent, self)


class TryRescueDoseFit(BehaviourFit[TryRescueDose]):
    """The parent's fit, rescued at a dose that has not had enough patients."""

    def _under_tried(self) -> bool:
        dose = self.rule.dose
        return dose <= self.num_doses and self.n_at_dose()[dose - 1] < self.rule.n

    def _rescuing(self) -> bool:
        return self.parent.recommended_dose() is None and self._under_tried()

    def recommended_dose(self) -> int | None:
        return self.rule.dose if self._rescuing() else self.parent.recommended_dose()

    def continues(self) -> bool:
        return self._rescuing() or self.parent.continues()

    def dose_admissible(self) -> AdmissibleVector:
        admissible = self.parent.dose_admissible()
        if not self._under_tried():
            return admissible
        index = self.rule.dose - 1
        return admissible[:index] + (True,) + admissible[index + 1:]

    def explain(self) -> str:
        proposed = self.parent.recommended_dose()
        if proposed is not None:
            return f"parent recommends {dose_text(proposed)}, no rescue needed; {self.unchanged()}"
        rescue = dose_text(self.rule.dose)
        if self.rule.dose > self.num_doses:
            return f"parent recommends no dose and {rescue} is not a dose of this trial; {self.unchanged()}"
        treated = f"{rescue} has {self.n_at_dose()[self.rule.dose - 1]}"
        if self._rescuing():
            return f"parent recommends no dose but {treated} < {self.rule.n} patients: {rescue}, continue"
        return f"parent recommends no dose and {treated} >= {self.rule.n} patients; {self.unchanged()}"
