"""escalation's ``select_boin_mtd`` behaviour: choose the dose by BOIN's MTD rule.

``BOIN::select.mtd`` (Liu & Yuan 2015; see
:mod:`..numerics.boin_mtd`) picks the admissible dose whose isotonic toxicity
estimate is closest to the target.  escalation applies it ``"finally"`` (the
default: only once the stages before it have stopped the trial with a dose,
never reinstating a trial that stopped with no dose) or ``"always"`` (at every
decision once there are patients).  It changes only the recommended dose; the
target defaults to the one of the stages before it.

Documented deviation (FORMAT.md section 8): when BOIN finds no MTD it returns
the code 99, which escalation passes on as a dose; here that is no dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..errors import InputError
from ..fit import DerivedFit, Fit, dose_text
from ..numerics.boin_mtd import select_mtd
from ..registry import register
from ..selector import Behaviour, Feature, require, require_probability

WHEN = ("finally", "always")


@register
@dataclass(frozen=True, kw_only=True)
class SelectBoinMtd(Behaviour):
    """``select_boin_mtd(when = c("finally", "always"), target = NULL)``."""

    kind: ClassVar[str] = "select_boin_mtd"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})

    when: str = "finally"
    target: float | None = None

    def __post_init__(self) -> None:
        require(self.when in WHEN, "when", f"{self.when!r} is not one of {', '.join(WHEN)}")
        if self.target is not None:
            require(isinstance(self.target, (int, float)) and not isinstance(self.target, bool),
                    "target", f"{self.target!r} is not a number")
            require_probability(self.target, "target")

    def wrap(self, parent: Fit) -> DerivedFit:
        target = self.target if self.target is not None else parent.tox_target()
        if target is None:
            raise InputError(
                f"design.stages[{self.index}].{self.kind}.target",
                f"{parent.stage or 'the design before it'} has no toxicity target; give one",
            )
        return SelectBoinMtdFit(parent, self.when, target)


class SelectBoinMtdFit(DerivedFit):
    """The parent's fit with BOIN's MTD as the recommended dose, when the rule applies."""

    def __init__(self, parent: Fit, when: str, target: float) -> None:
        super().__init__(parent)
        self.when = when
        self.target = target

    @cached_property
    def mtd(self) -> int | None:
        """BOIN's MTD for the outcomes so far (``None``: no admissible dose, R's 99)."""
        return select_mtd(self.target, self.n_at_dose(), self.tox_at_dose()).mtd

    def applies(self) -> bool:
        """Whether BOIN's MTD replaces the parent's recommendation now."""
        if self.when == "always":
            return self.num_patients > 0
        return not self.parent.continues() and self.parent.recommended_dose() is not None

    def recommended_dose(self) -> int | None:
        return self.mtd if self.applies() else self.parent.recommended_dose()

    def reason(self) -> str:
        if self.applies():
            when = "at every decision" if self.when == "always" else "the trial has stopped"
            chosen = "no admissible dose" if self.mtd is None else \
                f"dose {self.mtd} has the isotonic estimate closest to the target {self.target:g}"
            return f"BOIN MTD selection ({when}): {chosen}: {dose_text(self.mtd)}"
        if self.when == "always":
            return f"BOIN MTD selection waits for patients: {self.unchanged()}"
        if self.parent.continues():
            return f"BOIN MTD selection waits for the trial to stop: {self.unchanged()}"
        return f"BOIN MTD selection never reinstates a stopped trial with no dose: {self.unchanged()}"
