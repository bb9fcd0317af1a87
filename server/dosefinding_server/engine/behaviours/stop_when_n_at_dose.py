"""escalation's ``stop_when_n_at_dose``: stop once n patients have been treated at a dose.

The dose is a named level, the recommended dose or any dose (see
:mod:`._dose_rule`).  The trial stops when the parent stops or when that dose
has at least ``n`` patients; the recommended dose is the parent's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import DerivedFit, DoseRef, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature
from ._common import BehaviourFit, require_count
from ._dose_rule import check_dose_ref, first_dose_with, reached_text, shortfall_text


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenNAtDose(Behaviour):
    """Stop when ``n`` patients have been treated at ``dose``."""

    kind: ClassVar[str] = "stop_when_n_at_dose"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    n: int
    dose: DoseRef

    def __post_init__(self) -> None:
        require_count(self.n, "n")
        check_dose_ref(self.dose)

    def wrap(self, parent: Fit) -> DerivedFit:
        return StopWhenNAtDoseFit(parent, self)


class StopWhenNAtDoseFit(BehaviourFit[StopWhenNAtDose]):
    """The parent's fit, stopped once a dose is full."""

    @cached_property
    def _full_dose(self) -> int | None:
        """The examined dose with at least ``n`` patients, if any."""
        return first_dose_with(self.parent, self.rule.dose, self.rule.n)

    def continues(self) -> bool:
        return self.parent.continues() and self._full_dose is None

    def explain(self) -> str:
        if not self.parent.continues():
            return f"parent stops; {self.unchanged()}"
        full = self._full_dose
        if full is not None:
            return (f"{reached_text(self.parent, full, self.rule.n)}, stop; "
                    f"{dose_text(self.recommended_dose())} stands")
        return f"{shortfall_text(self.parent, self.rule.dose, self.rule.n)}; {self.unchanged()}"
