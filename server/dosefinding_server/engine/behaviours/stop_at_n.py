"""escalation's ``stop_at_n``: stop once n patients have been treated in total.

The trial continues only while the parent continues and fewer than ``n``
patients have been treated; the recommended dose is the parent's, so a trial
stopped by sample size still names a dose for the next phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fit import DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature
from ._common import BehaviourFit, require_count


@register
@dataclass(frozen=True, kw_only=True)
class StopAtN(Behaviour):
    """Stop when ``n`` patients have been treated."""

    kind: ClassVar[str] = "stop_at_n"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    n: int

    def __post_init__(self) -> None:
        require_count(self.n, "n")

    def wrap(self, parent: Fit) -> DerivedFit:
        return StopAtNFit(parent, self)


class StopAtNFit(BehaviourFit[StopAtN]):
    """The parent's fit, stopped once the sample size is reached."""

    def _reached(self) -> bool:
        return self.num_patients >= self.rule.n

    def continues(self) -> bool:
        return self.parent.continues() and not self._reached()

    def explain(self) -> str:
        count = f"{self.num_patients} patients treated"
        if not self.parent.continues():
            return f"parent stops ({count}); {self.unchanged()}"
        if self._reached():
            return f"{count} >= {self.rule.n}, stop; {dose_text(self.recommended_dose())} stands"
        return f"{count} < {self.rule.n}; {self.unchanged()}"
