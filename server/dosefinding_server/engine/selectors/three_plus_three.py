"""The 3+3 design (Storer 1989, design "A"; with de-escalation as in Korn et al. 1994).

Cohorts of three at the current dose.  After three patients: no toxicity ->
escalate; one -> three more at the same dose; two or more -> the dose is too
toxic.  After six: at most one toxicity -> escalate; more -> too toxic.  The
trial stops at the top dose once it is cleared, or below a dose that has had
six patients or two toxicities.  At a too-toxic dose the trial stops and
recommends the dose below (none at dose 1) or, with ``allow_deescalate``
(Korn et al. 1994), goes down to treat the dose below while it has fewer than
six patients, stopping with the highest dose that had six patients and at
most one toxicity once that is impossible.

The design has no model: every probability summary is undefined, and a dose
is admissible while it and every dose below it had fewer than two toxicities.

Strict: outcomes that 3+3 cannot have produced are refused (escalation's
strict mode), never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import InputError
from ..fit import AdmissibleVector, Fit
from ..outcomes import Outcomes
from ..registry import register
from ..selector import Feature, Role, Selector, require
from .move import Move, MoveFit


def check_three_plus_three(outcomes: Outcomes, allow_deescalate: bool) -> None:
    """Raise :class:`InputError` (field ``outcomes``) unless 3+3 could have produced ``outcomes``."""
    if not outcomes.patients:
        return
    n = outcomes.n_at_dose(outcomes.max_dose)
    tox = outcomes.tox_at_dose(outcomes.max_dose)
    last = outcomes.last_dose
    given = [d + 1 for d, m in enumerate(n) if m > 0]
    problems = (
        (any(m > 6 for m in n), "a dose has been given to more than 6 patients"),
        (not allow_deescalate and any(m > 3 and t == 0 for m, t in zip(n, tox)),
         "a dose without toxicity has been given to more than 3 patients"),
        (given[-1] - given[0] + 1 != len(given), "doses have been skipped"),
        (sum(m % 3 != 0 for m in n) > 1, "several cohorts are in progress"),
        (any(m % 3 != 0 for d, m in enumerate(n, 1) if d != last),
         "a cohort at a dose other than the last one is incomplete"),
    )
    for failed, why in problems:
        if failed:
            raise InputError("outcomes", f"not a 3+3 trial: {why}")


@register
@dataclass(frozen=True, kw_only=True)
class ThreePlusThree(Selector):
    """The 3+3 rule-based design (slotted so that ``num_doses`` shadows the base property)."""

    kind: ClassVar[str] = "three_plus_three"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS, Feature.LAST_DOSE})
    role: ClassVar[Role] = Role.CORE

    num_doses: int  # type: ignore[assignment]
    allow_deescalate: bool = False

    def __post_init__(self) -> None:
        require(isinstance(self.num_doses, int) and self.num_doses >= 1, "num_doses",
                f"{self.num_doses} is not a whole number of 1 or more")
        require(isinstance(self.allow_deescalate, bool), "allow_deescalate",
                f"{self.allow_deescalate!r} is not true or false")

    def fit(self, outcomes: Outcomes) -> Fit:
        check_three_plus_three(outcomes, self.allow_deescalate)
        return self._stamp(ThreePlusThreeFit(self, outcomes))

    def move(self, n: list[int], tox: list[int], last: int) -> Move:
        """The 3+3 decision at ``last``, the dose given last (dose 1 before any patient)."""
        m, t = n[last - 1], tox[last - 1]
        seen = f"3+3 at dose {last} ({t}/{m} toxic)"
        if m % 3 != 0 or m == 0 or (m == 3 and t == 1):
            return Move(last, True, f"{seen}: complete the cohort of {3 if m < 3 else 6} at dose {last}")
        if (m == 3 and t == 0) or (m == 6 and t <= 1):
            return self._cleared(n, tox, last, seen)
        return self._too_toxic(n, tox, last, seen)

    def _cleared(self, n: list[int], tox: list[int], last: int, seen: str) -> Move:
        if last == self.num_doses:
            return Move(last, False, f"{seen}: top dose cleared: stop, recommending dose {last}")
        if n[last] >= 6 or tox[last] >= 2:
            return Move(last, False, f"{seen}: dose {last + 1} already ruled out: stop, recommending dose {last}")
        return Move(last + 1, True, f"{seen}: cleared: escalate to dose {last + 1}")

    def _too_toxic(self, n: list[int], tox: list[int], last: int, seen: str) -> Move:
        if last == 1:
            return Move(None, False, f"{seen}: too toxic at the lowest dose: stop with no dose")
        if not self.allow_deescalate:
            return Move(last - 1, False, f"{seen}: too toxic: stop, recommending dose {last - 1}")
        if n[last - 2] < 6:
            return Move(last - 1, True, f"{seen}: too toxic: de-escalate to dose {last - 1}")
        cleared = [d for d in range(1, self.num_doses + 1) if n[d - 1] >= 6 and tox[d - 1] <= 1]
        if cleared:
            return Move(cleared[-1], False, f"{seen}: too toxic: stop, recommending dose {cleared[-1]}, "
                                            "the highest with at most 1 toxicity in 6")
        return Move(None, False, f"{seen}: too toxic and no dose has at most 1 toxicity in 6: stop with no dose")


class ThreePlusThreeFit(MoveFit):
    """A fitted 3+3 design: decisions only, no probability estimates."""

    def __init__(self, design: ThreePlusThree, outcomes: Outcomes) -> None:
        super().__init__(outcomes, design.num_doses)
        self._tox = self.tox_at_dose()
        self.own = design.move(self.n_at_dose(), self._tox, outcomes.last_dose or 1)

    def dose_admissible(self) -> AdmissibleVector:
        admissible: list[bool] = []
        for t in self._tox:
            admissible.append(t < 2 and (not admissible or admissible[-1]))
        return tuple(admissible)
