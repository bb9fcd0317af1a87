"""The one result interface that every selector and behaviour returns.

A :class:`Fit` is a design fitted to outcomes.  It answers escalation's
generics (``recommended_dose``, ``continue``, ``mean_prob_tox``, ...).  Core
selectors return a :class:`CoreFit`; behaviours return a :class:`DerivedFit`
that wraps the fit of the stages before it and delegates everything it does not
override, so that later stages take precedence (escalation's
``derived_dose_selector``).  Every fit also says, in one line, what it decided
and why: the chain of those lines is the decision trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from .outcomes import Outcomes

ProbVector = tuple[float | None, ...]
AdmissibleVector = tuple[bool | None, ...]


@dataclass(frozen=True, slots=True)
class TraceStep:
    """What one stage of a design received from the stages before it and what it decided."""

    index: int
    stage: str
    received_dose: int | None
    received_continue: bool | None
    dose: int | None
    continues: bool
    reason: str
    warnings: tuple[str, ...] = ()


def dose_text(dose: int | None) -> str:
    """A dose as a reader expects it in a reason: ``dose 3`` or ``no dose``."""
    return "no dose" if dose is None else f"dose {dose}"


class Fit(ABC):
    """A design fitted to outcomes: escalation's ``selector`` object."""

    stage: str = ""
    index: int = 0

    def __init__(self, outcomes: Outcomes, num_doses: int) -> None:
        self.outcomes = outcomes
        self.num_doses = num_doses

    # Data summaries: fixed by the outcomes, never overridden.
    @property
    def num_patients(self) -> int:
        return self.outcomes.num_patients

    def n_at_dose(self) -> list[int]:
        return self.outcomes.n_at_dose(self.num_doses)

    def tox_at_dose(self) -> list[int]:
        return self.outcomes.tox_at_dose(self.num_doses)

    def eff_at_dose(self) -> list[int]:
        return self.outcomes.eff_at_dose(self.num_doses)

    def _none(self) -> ProbVector:
        return (None,) * self.num_doses

    # Decisions.
    @abstractmethod
    def recommended_dose(self) -> int | None:
        """The dose for the next patients; ``None`` recommends no dose."""

    @abstractmethod
    def continues(self) -> bool:
        """Whether the trial should go on (escalation's ``continue``)."""

    @abstractmethod
    def reason(self) -> str:
        """One line saying what this stage decided and why."""

    def warnings(self) -> tuple[str, ...]:
        """Anything a reviewer must know about this stage's decision."""
        return ()

    # Model summaries; a model that does not estimate a quantity returns Nones.
    def dose_admissible(self) -> AdmissibleVector:
        return (True,) * self.num_doses

    def tox_target(self) -> float | None:
        return None

    def mean_prob_tox(self) -> ProbVector:
        return self._none()

    def median_prob_tox(self) -> ProbVector:
        return self._none()

    def prob_tox_quantile(self, p: float) -> ProbVector:
        return self._none()

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        return self._none()

    def mean_prob_eff(self) -> ProbVector:
        return self._none()

    def median_prob_eff(self) -> ProbVector:
        return self._none()

    def prob_eff_exceeds(self, threshold: float) -> ProbVector:
        return self._none()

    def utility(self) -> ProbVector:
        return self._none()

    # The decision trace.
    def parent_fit(self) -> "Fit | None":
        return None

    def trace(self) -> list[TraceStep]:
        """One step per stage, in design order, ending with this one."""
        parent = self.parent_fit()
        steps = parent.trace() if parent is not None else []
        steps.append(
            TraceStep(
                index=self.index,
                stage=self.stage,
                received_dose=parent.recommended_dose() if parent is not None else None,
                received_continue=parent.continues() if parent is not None else None,
                dose=self.recommended_dose(),
                continues=self.continues(),
                reason=self.reason(),
                warnings=self.warnings(),
            )
        )
        return steps


class CoreFit(Fit):
    """The fit of a core selector; ``path`` is the fit of a preceding ``follow_path``, if any."""

    def __init__(self, outcomes: Outcomes, num_doses: int, path: Fit | None = None) -> None:
        super().__init__(outcomes, num_doses)
        self.path = path

    def parent_fit(self) -> Fit | None:
        return self.path


class DerivedFit(Fit):
    """A behaviour's fit: delegates to its parent whatever it does not override."""

    def __init__(self, parent: Fit) -> None:
        super().__init__(parent.outcomes, parent.num_doses)
        self.parent = parent

    def parent_fit(self) -> Fit:
        return self.parent

    def recommended_dose(self) -> int | None:
        return self.parent.recommended_dose()

    def continues(self) -> bool:
        return self.parent.continues()

    def dose_admissible(self) -> AdmissibleVector:
        return self.parent.dose_admissible()

    def tox_target(self) -> float | None:
        return self.parent.tox_target()

    def mean_prob_tox(self) -> ProbVector:
        return self.parent.mean_prob_tox()

    def median_prob_tox(self) -> ProbVector:
        return self.parent.median_prob_tox()

    def prob_tox_quantile(self, p: float) -> ProbVector:
        return self.parent.prob_tox_quantile(p)

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        return self.parent.prob_tox_exceeds(threshold)

    def mean_prob_eff(self) -> ProbVector:
        return self.parent.mean_prob_eff()

    def median_prob_eff(self) -> ProbVector:
        return self.parent.median_prob_eff()

    def prob_eff_exceeds(self, threshold: float) -> ProbVector:
        return self.parent.prob_eff_exceeds(threshold)

    def utility(self) -> ProbVector:
        return self.parent.utility()

    def unchanged(self) -> str:
        """The reason text of a stage that let its parent's answer stand."""
        cont = "continue" if self.continues() else "stop"
        return f"{dose_text(self.recommended_dose())} and {cont} stand"


def resolve_dose(fit: Fit, dose: "DoseRef") -> int | None:
    """The dose level a behaviour's ``dose`` argument names (``None`` for "any" or no dose)."""
    if dose == "recommended":
        return fit.recommended_dose()
    if dose == "any":
        return None
    return int(dose)


DoseRef = int | str  # a 1-based level, "recommended" or "any"

