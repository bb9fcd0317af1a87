"""escalation's ``expand_last_dose_to_cohort``: before stopping, fill the last dose up to n patients.

When the parent would stop but the dose given last has fewer than ``n``
patients, the trial continues at that dose; otherwise the parent's answers
stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature
from ._common import HoldLastDoseFit, last_dose, require_count


@register
@dataclass(frozen=True, kw_only=True)
class ExpandLastDoseToCohort(Behaviour):
    """Keep the last dose until it has ``n`` patients, even when the parent stops."""

    kind: ClassVar[str] = "expand_last_dose_to_cohort"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS, Feature.LAST_DOSE})
    n: int

    def __post_init__(self) -> None:
        require_count(self.n, "n")

    def wrap(self, parent: Fit) -> DerivedFit:
        return ExpandLastDoseToCohortFit(parent, self)


class ExpandLastDoseToCohortFit(HoldLastDoseFit[ExpandLastDoseToCohort]):
    """The parent's fit, kept at the last dose until its cohort is full."""

    @cached_property
    def held(self) -> int | None:
        """The dose given last while the parent stops before it has ``n`` patients, else ``None``."""
        last = last_dose(self)
        if last is None or last.patients >= self.rule.n or self.parent.continues():
            return None
        return last.dose

    def explain(self) -> str:
        last = last_dose(self)
        if last is None:
            return f"no patients yet; {self.unchanged()}"
        if self.parent.continues():
            return f"parent continues; {self.unchanged()}"
        count = f"{last.patients} patients at last {dose_text(last.dose)}"
        if self.held is None:
            return f"parent stops and {count} >= {self.rule.n}; {self.unchanged()}"
        parent = dose_text(self.parent.recommended_dose())
        return f"parent stops ({parent}) but {count} < {self.rule.n}: {dose_text(last.dose)}, continue"
