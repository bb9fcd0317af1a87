"""escalation's ``stick_on_num_tox``: stay at the last dose after exactly num_tox toxicities in num_patients.

When the dose given last has had exactly ``num_patients`` patients with
exactly ``num_tox`` toxicities (e.g. 1 of 3), the trial continues at that
dose whatever the parent would do; otherwise the parent's answers stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature, require
from ._common import HoldLastDoseFit, LastDose, answer_text, last_dose, require_count


@register
@dataclass(frozen=True, kw_only=True)
class StickOnNumTox(Behaviour):
    """Stick at the last dose when it has ``num_tox`` toxicities in ``num_patients`` patients."""

    kind: ClassVar[str] = "stick_on_num_tox"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS, Feature.LAST_DOSE})
    num_tox: int
    num_patients: int

    def __post_init__(self) -> None:
        require_count(self.num_tox, "num_tox", minimum=0)
        require_count(self.num_patients, "num_patients")
        require(self.num_tox <= self.num_patients, "num_tox",
                f"{self.num_tox} toxicities cannot occur in {self.num_patients} patients")

    def wrap(self, parent: Fit) -> DerivedFit:
        return StickOnNumToxFit(parent, self)


class StickOnNumToxFit(HoldLastDoseFit[StickOnNumTox]):
    """The parent's fit, held at the last dose on the given toxicity count."""

    def _matches(self, last: LastDose) -> bool:
        return (last.patients, last.toxicities) == (self.rule.num_patients, self.rule.num_tox)

    @cached_property
    def held(self) -> int | None:
        """The dose given last when its counts match, else ``None``."""
        last = last_dose(self)
        return last.dose if last is not None and self._matches(last) else None

    def explain(self) -> str:
        last = last_dose(self)
        if last is None:
            return f"no patients yet; {self.unchanged()}"
        seen = f"{last.toxicities} of {last.patients} patients at last {dose_text(last.dose)} had toxicity"
        wanted = f"{self.rule.num_tox} of {self.rule.num_patients}"
        if not self._matches(last):
            return f"{seen}, not {wanted}; {self.unchanged()}"
        stay = f"stay at {dose_text(last.dose)} and continue"
        return f"{seen} = {wanted}: {stay} (parent: {answer_text(self.parent)})"
