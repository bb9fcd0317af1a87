"""escalation's ``demand_n_at_dose``: do not stop before n patients have been treated at a dose.

It changes only whether the trial continues.  While the parent recommends a
dose and the examined dose (named, recommended, or any; see
:mod:`._dose_rule`) has fewer than ``n`` patients, the trial continues even if
the parent would stop; after that, or when the parent recommends no dose
(all doses unsafe), the parent's decision stands.  Placed after a stopping
rule it overrides it; placed before one it is overridden.
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
class DemandNAtDose(DoseCountRule):
    """Continue until ``n`` patients have been treated at ``dose``."""

    kind: ClassVar[str] = "demand_n_at_dose"

    def wrap(self, parent: Fit) -> DerivedFit:
        return DemandNAtDoseFit(parent, self)


class DemandNAtDoseFit(DoseCountFit[DemandNAtDose]):
    """The parent's fit, kept going until a dose has enough patients."""

    def _demanding(self) -> bool:
        return self.parent.recommended_dose() is not None and self.reached_at is None

    def continues(self) -> bool:
        return self._demanding() or self.parent.continues()

    def explain(self) -> str:
        if self.parent.recommended_dose() is None:
            return f"parent recommends no dose; {self.unchanged()}"
        met = self.reached_at
        if met is not None:
            return f"{reached_text(self.parent, met, self.rule.n)}; {self.unchanged()}"
        demand = shortfall_text(self.parent, self.rule.dose, self.rule.n)
        if not self.parent.continues():
            return f"parent stops but {demand}: continue at {dose_text(self.recommended_dose())}"
        return f"{demand}; {self.unchanged()}"
