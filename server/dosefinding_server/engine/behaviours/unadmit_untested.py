"""escalation's ``unadmit_untested``: doses nobody has received are not admissible.

Admissibility is the parent's, except that untested doses become
inadmissible and the parent's recommended dose (if any) admissible.  The
recommended dose and the decision to continue are the parent's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fit import AdmissibleVector, DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature
from ._common import BehaviourFit


@register
@dataclass(frozen=True, kw_only=True)
class UnadmitUntested(Behaviour):
    """Make untested doses, other than the recommended one, inadmissible."""

    kind: ClassVar[str] = "unadmit_untested"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})

    def wrap(self, parent: Fit) -> DerivedFit:
        return UnadmitUntestedFit(parent, self)


class UnadmitUntestedFit(BehaviourFit[UnadmitUntested]):
    """The parent's fit with untested doses inadmissible."""

    def dose_admissible(self) -> AdmissibleVector:
        recommended = self.parent.recommended_dose()
        return tuple(
            True if dose == recommended else (False if n == 0 else admissible)
            for dose, (n, admissible) in enumerate(zip(self.n_at_dose(), self.parent.dose_admissible()), 1)
        )

    def explain(self) -> str:
        recommended = self.parent.recommended_dose()
        excluded = [d for d, n in enumerate(self.n_at_dose(), 1) if n == 0 and d != recommended]
        listed = ", ".join(map(str, excluded)) if excluded else "none"
        spared = "" if recommended is None else f" other than the recommended {dose_text(recommended)}"
        return f"untested doses{spared} made inadmissible ({listed}); {self.unchanged()}"
