"""escalation's ``stop_when_n_at_dose``: stop once n patients have been treated at a dose.

The dose is a named level, the recommended dose or any dose (see
:mod:`._dose_rule`).  The trial stops when the parent stops or when that dose
has at least ``n`` patients; the recommended dose is the parent's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fit import DerivedFit, Fit, dose_text
from ..registry import register
from ._common import DoseCountFit, DoseCountRule
from ._dose_rule import reached_text, shortfall_text


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenNAtDose(DoseCountRule):
    """Stop when ``n`` patients have been treated at ``dose``."""

    kind: ClassVar[str] = "stop_when_n_at_dose"

    def wrap(self, parent: Fit) -> DerivedFit:
        return StopWhenNAtDoseFit(parent, self)


class StopWhenNAtDoseFit(DoseCountFit[StopWhenNAtDose]):
    """The parent's fit, stopped once a dose is full."""

    def continues(self) -> bool:
        return self.parent.continues() and self.reached_at is None

    def explain(self) -> str:
        if not self.parent.continues():
            return f"parent stops; {self.unchanged()}"
        full = self.reached_at
        if full is not None:
            return (f"{reached_text(self.parent, full, self.rule.n)}, stop; "
                    f"{dose_text(self.recommended_dose())} stands")
        return f"{shortfall_text(self.parent, self.rule.dose, self.rule.n)}; {self.unchanged()}"
