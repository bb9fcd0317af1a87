"""escalation's ``stop_when_too_toxic``: stop, recommending no dose, when a dose is likely too toxic.

With e(d) = P(toxicity probability at d > ``tox_threshold``) from the parent's
model, the rule fires when e(d) >= ``confidence`` at the examined dose (named,
recommended, or any; see :mod:`._dose_rule`).  Then no dose is recommended and
the trial stops.  A model that cannot say (e(d) undefined, e.g. an untested
dose under BOIN, or 3+3) never fires.  Doses with e(d) >= ``confidence`` are
also inadmissible; where e(d) is undefined admissibility is undefined too,
as in R (``NA & TRUE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import AdmissibleVector, DerivedFit, DoseRef, Fit, ProbVector, dose_text
from ..registry import register
from ..selector import Behaviour, Feature, require_probability
from ._common import BehaviourFit, prob_text, require_number
from ._dose_rule import check_dose_ref, examined_doses, first_dose_where, nothing_examined_text


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenTooToxic(Behaviour):
    """Stop and recommend no dose when P(tox > ``tox_threshold``) >= ``confidence`` at ``dose``."""

    kind: ClassVar[str] = "stop_when_too_toxic"
    reads: ClassVar[frozenset[Feature]] = frozenset()
    dose: DoseRef
    tox_threshold: float
    confidence: float

    def __post_init__(self) -> None:
        check_dose_ref(self.dose)
        for name in ("tox_threshold", "confidence"):
            require_number(getattr(self, name), name)
            require_probability(getattr(self, name), name)

    def wrap(self, parent: Fit) -> DerivedFit:
        return StopWhenTooToxicFit(parent, self)


def _and(a: bool | None, b: bool | None) -> bool | None:
    """R's three-valued ``&``: FALSE wins over NA, NA over TRUE."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


class StopWhenTooToxicFit(BehaviourFit[StopWhenTooToxic]):
    """The parent's fit, stopped with no dose once a dose is too toxic."""

    @cached_property
    def _exceeds(self) -> ProbVector:
        return self.parent.prob_tox_exceeds(self.rule.tox_threshold)

    def _too_toxic(self, dose: int) -> bool:
        e = self._exceeds[dose - 1]
        return e is not None and e >= self.rule.confidence

    @cached_property
    def _toxic_dose(self) -> int | None:
        """The examined dose that is too toxic, if any."""
        return first_dose_where(self.parent, self.rule.dose, self._too_toxic)

    def recommended_dose(self) -> int | None:
        return None if self._toxic_dose is not None else self.parent.recommended_dose()

    def continues(self) -> bool:
        return self.parent.continues() and self._toxic_dose is None

    def dose_admissible(self) -> AdmissibleVector:
        parent = self.parent.dose_admissible()
        return tuple(
            _and(None if e is None else e < self.rule.confidence, ok)
            for e, ok in zip(self._exceeds, parent)
        )

    def _criterion(self, dose: int) -> str:
        """``P(tox > 0.35) at dose 1 is 0.812 >= 0.7`` (or ``... is undefined``)."""
        e = self._exceeds[dose - 1]
        verdict = "undefined"
        if e is not None:
            verdict = f"{prob_text(e)} {'>=' if self._too_toxic(dose) else '<'} {self.rule.confidence:g}"
        return f"P(tox > {self.rule.tox_threshold:g}) at {dose_text(dose)} is {verdict}"

    def explain(self) -> str:
        toxic = self._toxic_dose
        if toxic is not None:
            return (f"{self._criterion(toxic)}: stop and recommend no dose "
                    f"(parent recommended {dose_text(self.parent.recommended_dose())})")
        examined = examined_doses(self.parent, self.rule.dose)
        if self.rule.dose == "any":
            found = f"no dose has P(tox > {self.rule.tox_threshold:g}) >= {self.rule.confidence:g}"
        elif examined:
            found = self._criterion(examined[0])
        else:
            found = nothing_examined_text(self.parent, self.rule.dose)
        return f"{found}; {self.unchanged()}"
