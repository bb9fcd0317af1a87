"""escalation's ``dont_skip_doses``: never move more than one level from the dose given last.

With patients and a parent recommendation r, let l be the dose of the last
patient: when escalating (the default) r > l + 1 becomes l + 1; when
de-escalating (off by default) r < l - 1 becomes l - 1.  Without patients, or
when the parent recommends no dose, the parent's answer stands; the decision
to continue is always the parent's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature
from ._common import BehaviourFit, require_flag


@register
@dataclass(frozen=True, kw_only=True)
class DontSkipDoses(Behaviour):
    """Limit moves to one dose level at a time (escalation's defaults: escalating only)."""

    kind: ClassVar[str] = "dont_skip_doses"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.LAST_DOSE})
    when_escalating: bool = True
    when_deescalating: bool = False

    def __post_init__(self) -> None:
        require_flag(self.when_escalating, "when_escalating")
        require_flag(self.when_deescalating, "when_deescalating")

    def wrap(self, parent: Fit) -> DerivedFit:
        return DontSkipDosesFit(parent, self)


class DontSkipDosesFit(BehaviourFit[DontSkipDoses]):
    """The parent's fit with its recommendation kept next to the last dose given."""

    @cached_property
    def _dose(self) -> int | None:
        proposed = self.parent.recommended_dose()
        last = self.outcomes.last_dose
        if proposed is None or last is None:
            return proposed
        if self.rule.when_escalating and proposed > last + 1:
            return last + 1
        if self.rule.when_deescalating and proposed < last - 1:
            return last - 1
        return proposed

    def recommended_dose(self) -> int | None:
        return self._dose

    def explain(self) -> str:
        proposed = self.parent.recommended_dose()
        last = self.outcomes.last_dose
        if last is None:
            return f"no patients yet; {self.unchanged()}"
        if proposed is None:
            return f"parent recommends no dose; {self.unchanged()}"
        recommends = f"parent recommends {dose_text(proposed)}"
        treated = f"last patient was treated at {dose_text(last)}"
        if self._dose != proposed:
            return f"{recommends} but {treated}: {dose_text(self._dose)}"
        return f"{recommends}, {treated}, no skip; {self.unchanged()}"
