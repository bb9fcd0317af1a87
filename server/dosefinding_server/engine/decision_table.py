"""A decision table for any design, as protocols print them for BOIN.

For each number n of patients treated at the current dose and each number t
of toxicities among them, the design is fitted to the outcomes so far followed
by those n patients (one cohort) and its answer classified against the
current dose: escalate, stay, de-escalate, eliminate (the current dose becomes
inadmissible) or stop (no dose, or the design stops).  Each row is summarised
by the boundaries a protocol quotes: escalate if t <= a, de-escalate if t >= b,
eliminate if t >= e.  For BOIN the table is Liu and Yuan's boundary table;
for model-based designs it depends on the outcomes so far, which are part of
the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import InputError
from .outcomes import Outcomes, Patient
from .selector import Selector

MAX_PATIENTS = 100


class Action(Enum):
    ESCALATE = "escalate"
    STAY = "stay"
    DEESCALATE = "de-escalate"
    ELIMINATE = "eliminate"
    STOP = "stop"


@dataclass(frozen=True)
class Cell:
    toxicities: int
    action: Action
    next_dose: int | None


@dataclass(frozen=True)
class Row:
    """The decisions after n patients at the dose, and the boundaries they imply."""

    n: int
    cells: tuple[Cell, ...]

    def _toxicities(self, *actions: Action) -> list[int]:
        return [c.toxicities for c in self.cells if c.action in actions]

    @property
    def escalate_if_le(self) -> int | None:
        return max(self._toxicities(Action.ESCALATE), default=None)

    @property
    def deescalate_if_ge(self) -> int | None:
        return min(self._toxicities(Action.DEESCALATE, Action.ELIMINATE, Action.STOP), default=None)

    @property
    def eliminate_if_ge(self) -> int | None:
        return min(self._toxicities(Action.ELIMINATE), default=None)


def classify(design: Selector, outcomes: Outcomes, dose: int) -> Cell:
    fit = design.fit(outcomes)
    toxicities = sum(p.toxicity for p in outcomes.patients if p.dose == dose)
    recommended = fit.recommended_dose()
    if fit.dose_admissible()[dose - 1] is False:
        return Cell(toxicities, Action.ELIMINATE, recommended)
    if recommended is None or not fit.continues():
        return Cell(toxicities, Action.STOP, recommended)
    if recommended > dose:
        return Cell(toxicities, Action.ESCALATE, recommended)
    return Cell(toxicities, Action.STAY if recommended == dose else Action.DEESCALATE, recommended)


def decision_table(design: Selector, dose: int, max_n: int, previous: Outcomes = Outcomes()) -> list[Row]:
    """Rows n = 1..max_n at ``dose``, after ``previous``."""
    num_doses = design.num_doses or max(dose, previous.max_dose)
    if not 1 <= dose <= num_doses:
        raise InputError("dose", f"dose {dose} is outside 1..{num_doses}")
    if not 1 <= max_n <= MAX_PATIENTS:
        raise InputError("max_n", f"{max_n} is outside 1..{MAX_PATIENTS}")
    rows = []
    for n in range(1, max_n + 1):
        cells = []
        for t in range(n + 1):
            cohort = [Patient(dose, i >= n - t) for i in range(n)]
            cells.append(classify(design, previous.extended(cohort), dose))
        rows.append(Row(n, tuple(cells)))
    return rows
