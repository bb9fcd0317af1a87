"""What every behaviour of this package shares: its fit's reason prefix and parameter checks.

A behaviour's reason reads ``<stage>: <what it received and what it did>`` so
that a trace line stands on its own.  Counts, flags and numbers are checked
here once so that every stage reports an impossible value the same way,
naming its field.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Generic, TypeVar

from ..errors import InputError
from ..fit import DerivedFit, DoseRef, Fit, dose_text
from ..selector import Behaviour, Feature, require
from ._dose_rule import check_dose_ref, first_dose_with

B = TypeVar("B", bound=Behaviour)


class BehaviourFit(DerivedFit, Generic[B]):
    """A behaviour's fit: the parent's fit plus the stage (``rule``) that adjusts it."""

    def __init__(self, parent: Fit, rule: B) -> None:
        super().__init__(parent)
        self.rule = rule

    def reason(self) -> str:
        return f"{self.rule.kind}: {self.explain()}"

    @abstractmethod
    def explain(self) -> str:
        """What this stage received and what it did, without the stage name."""


@dataclass(frozen=True)
class LastDose:
    """The dose given to the last patient, with its patient and toxicity counts so far."""

    dose: int
    patients: int
    toxicities: int


def last_dose(fit: Fit) -> LastDose | None:
    """The dose given last and its counts (``None`` before the first patient)."""
    dose = fit.outcomes.last_dose
    if dose is None:
        return None
    return LastDose(dose, fit.n_at_dose()[dose - 1], fit.tox_at_dose()[dose - 1])


def require_count(value: object, field_name: str, minimum: int = 1) -> None:
    """``value`` must be a whole number of at least ``minimum`` (patients, toxicities)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field_name, f"{value!r} is not a whole number")
    require(value >= minimum, field_name, f"{value} is less than {minimum}")


def require_flag(value: object, field_name: str) -> None:
    """``value`` must be a boolean (R's TRUE/FALSE), not a number or string that looks like one."""
    require(isinstance(value, bool), field_name, f"{value!r} is not true or false")


def require_number(value: object, field_name: str) -> None:
    """``value`` must be a real number (an int is accepted, a boolean is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(field_name, f"{value!r} is not a number")


def answer_text(fit: Fit) -> str:
    """A fit's answer in a reason: ``dose 3, continue`` or ``no dose, stop``."""
    return f"{dose_text(fit.recommended_dose())}, {'continue' if fit.continues() else 'stop'}"


def prob_text(p: float | None) -> str:
    """A probability in a reason: three decimals, or ``undefined`` for a missing value."""
    return "undefined" if p is None else f"{p:.3f}"


@dataclass(frozen=True, kw_only=True)
class DoseCountRule(Behaviour):
    """A stage about ``n`` patients at ``dose`` (a level, the recommended dose, or any dose)."""

    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    n: int
    dose: DoseRef

    def __post_init__(self) -> None:
        require_count(self.n, "n")
        check_dose_ref(self.dose)


R = TypeVar("R", bound=DoseCountRule)


class DoseCountFit(BehaviourFit[R]):
    """The fit of a :class:`DoseCountRule`: which examined dose, if any, already has ``n`` patients."""

    @cached_property
    def reached_at(self) -> int | None:
        return first_dose_with(self.parent, self.rule.dose, self.rule.n)


class HoldLastDoseFit(BehaviourFit[B]):
    """A fit that keeps treating at the last dose given while :attr:`held` names it."""

    @property
    @abstractmethod
    def held(self) -> int | None:
        """The dose to keep treating at, or ``None`` to let the parent's answer stand."""

    def recommended_dose(self) -> int | None:
        return self.held if self.held is not None else self.parent.recommended_dose()

    def continues(self) -> bool:
        return self.held is not None or self.parent.continues()
