"""escalation's ``stop_when_tox_ci_covered``: stop once the toxicity probability is known precisely enough.

The central ``width`` interval of the toxicity probability at a dose (the
parent model's quantiles at (1 - width)/2 and 1 - (1 - width)/2) is covered
when it lies within [``lower``, ``upper``].  The trial stops when the parent
stops or when the interval is covered at the examined dose (named,
recommended, or any; see :mod:`._dose_rule`); a model without quantiles never
stops this way.  The recommended dose is the parent's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import DerivedFit, DoseRef, Fit, ProbVector, dose_text
from ..registry import register
from ..selector import Behaviour, Feature, require, require_probability
from ._common import BehaviourFit, prob_text, require_number
from ._dose_rule import check_dose_ref, examined_doses, first_dose_where, nothing_examined_text


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenToxCiCovered(Behaviour):
    """Stop when the ``width`` interval of P(tox) at ``dose`` lies within [``lower``, ``upper``]."""

    kind: ClassVar[str] = "stop_when_tox_ci_covered"
    reads: ClassVar[frozenset[Feature]] = frozenset()
    dose: DoseRef
    lower: float
    upper: float
    width: float = 0.9

    def __post_init__(self) -> None:
        check_dose_ref(self.dose)
        for name in ("lower", "upper", "width"):
            require_number(getattr(self, name), name)
        require(0.0 <= self.lower <= 1.0, "lower", f"{self.lower} is outside [0, 1]")
        require(0.0 <= self.upper <= 1.0, "upper", f"{self.upper} is outside [0, 1]")
        require(self.lower < self.upper, "upper", f"{self.upper} is not above lower ({self.lower})")
        require_probability(self.width, "width")

    def wrap(self, parent: Fit) -> DerivedFit:
        return StopWhenToxCiCoveredFit(parent, self)


class StopWhenToxCiCoveredFit(BehaviourFit[StopWhenToxCiCovered]):
    """The parent's fit, stopped once an interval is covered."""

    @cached_property
    def _bounds(self) -> tuple[ProbVector, ProbVector]:
        """Lower and upper interval bounds per dose, at escalation's exact quantile levels."""
        tail = (1 - self.rule.width) / 2
        return self.parent.prob_tox_quantile(tail), self.parent.prob_tox_quantile(1 - tail)

    def _covered(self, dose: int) -> bool:
        low, high = (bound[dose - 1] for bound in self._bounds)
        return low is not None and high is not None and low >= self.rule.lower and high <= self.rule.upper

    @cached_property
    def _covered_dose(self) -> int | None:
        """The examined dose whose interval is covered, if any (only asked while the parent continues)."""
        return first_dose_where(self.parent, self.rule.dose, self._covered)

    def continues(self) -> bool:
        return self.parent.continues() and self._covered_dose is None

    def _interval(self, dose: int) -> str:
        low, high = (prob_text(bound[dose - 1]) for bound in self._bounds)
        return f"{self.rule.width * 100:g}% interval at {dose_text(dose)} is [{low}, {high}]"

    def explain(self) -> str:
        if not self.parent.continues():
            return f"parent stops; {self.unchanged()}"
        target = f"[{self.rule.lower:g}, {self.rule.upper:g}]"
        covered = self._covered_dose
        if covered is not None:
            stands = dose_text(self.recommended_dose())
            return f"{self._interval(covered)} within {target}, stop; {stands} stands"
        examined = examined_doses(self.parent, self.rule.dose)
        if self.rule.dose == "any":
            found = f"no dose's interval within {target}"
        elif examined:
            found = f"{self._interval(examined[0])}, not within {target}"
        else:
            found = nothing_examined_text(self.parent, self.rule.dose)
        return f"{found}; {self.unchanged()}"
