"""A core decision as one value, and the fit of a rule-based design that makes one.

The rule-based designs (3+3, the interval designs, BOIN12) decide by a rule
applied to the counts at the last dose: the rule's answer is a :class:`Move`,
and their fits answer the grammar's three questions from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fit import CoreFit


@dataclass(frozen=True)
class Move:
    """A core decision: the next dose (``None`` = no dose), whether to go on, and why."""

    dose: int | None
    continues: bool
    reason: str


class MoveFit(CoreFit):
    """A core fit whose decision is its design's :class:`Move` (``own``), set by the subclass on construction."""

    own: Move

    def recommended_dose(self) -> int | None:
        return self.own.dose

    def continues(self) -> bool:
        return self.own.continues

    def reason(self) -> str:
        return self.own.reason
