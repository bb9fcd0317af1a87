"""escalation's ``get_dfcrm``: the continual reassessment method as a core selector.

The CRM (O'Quigley, Pepe & Fisher 1990) as escalation 0.2.3 wraps dfcrm
(Cheung 2011; :mod:`..numerics.dfcrm`): after each cohort it fits
``dfcrm::crm(skeleton, target, tox, level, var.est = TRUE, model, intcpt,
scale)`` by posterior mean and recommends dfcrm's dose.  The summaries follow
escalation's ``dfcrm_selector`` methods (FORMAT.md section 3.3):

* no patients: dose 1, ``mean_prob_tox`` = the skeleton, quantiles and
  exceedance probabilities undefined; every dose admissible (escalation's
  default ``dose_admissible``, also before any patient: the reference data
  show ``TRUE``);
* ``mean_prob_tox`` is dfcrm's plug-in ``ptox`` (the model at the posterior
  mean of β), not the posterior mean of the toxicity probability;
* quantiles treat β as normal with dfcrm's posterior mean and variance; a
  larger β lowers the toxicity, so the ``p`` quantile of the toxicity is the
  model at the ``1 - p`` quantile of β.  escalation's logistic branch ignores
  ``p`` and returns ``ptox`` (FORMAT.md section 8); this applies the
  normal quantile to both models, the correct behaviour;
* ``prob_tox_exceeds(t)`` = P(β < β_d(t)) with β_d(t) the parameter at which
  dose d has toxicity t;
* the CRM never stops a trial itself; a ``follow_path`` stage before it
  decides while its path is being followed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Sequence

import numpy as np
from scipy.special import ndtr, ndtri

from ..errors import InputError
from ..fit import CoreFit, Fit, ProbVector, dose_text
from ..numerics.dfcrm import (
    DEFAULT_SCALE,
    EMPIRIC,
    CrmResult,
    WorkingModel,
    bayes_fits,
    check_scale,
    check_target,
    mtd_basis,
)
from ..outcomes import Outcomes
from ..registry import register
from ..selector import Feature, Role, Selector


@register
@dataclass(frozen=True, kw_only=True)
class Crm(Selector):
    """``get_dfcrm(skeleton, target, model, intcpt, scale)``: the one-parameter Bayesian CRM."""

    kind: ClassVar[str] = "crm"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    role: ClassVar[Role] = Role.CORE
    accepts_path: ClassVar[bool] = True

    skeleton: tuple[float, ...]
    target: float
    model: str = EMPIRIC
    intcpt: float = 3.0
    scale: float = DEFAULT_SCALE

    def __post_init__(self) -> None:
        self.working_model  # calibrating the model validates skeleton, model and intcpt
        object.__setattr__(self, "skeleton", tuple(map(float, self.skeleton)))
        check_target(self.target)
        check_scale(self.scale)

    @cached_property
    def working_model(self) -> WorkingModel:
        """The calibrated dose-toxicity model (validates skeleton, model and intcpt)."""
        return WorkingModel.calibrated(self.skeleton, self.model, self.intcpt, field="skeleton")

    @property
    def num_doses(self) -> int:
        return len(self.skeleton)

    def fit(self, outcomes: Outcomes) -> "CrmFit":
        return self.fit_many([outcomes])[0]

    def fit_many(self, outcomes: Sequence[Outcomes]) -> list["CrmFit"]:
        """The fits of many outcomes, their posteriors integrated together (:meth:`posteriors`)."""
        paths = self.parent.fit_many(outcomes) if self.parent is not None else [None] * len(outcomes)
        return [self._stamp(CrmFit(one, self, result, path))
                for one, result, path in zip(outcomes, self.posteriors(outcomes), paths)]

    def posteriors(self, outcomes: Sequence[Outcomes]) -> list[CrmResult | None]:
        """dfcrm's Bayesian fit to each of ``outcomes`` (``None`` without patients).

        The stage's parameters were checked once, on construction, so this is
        ``dfcrm::crm``'s fit without its per-call input checks (a simulation
        fits thousands of times), for every outcome at once; each fit is the
        same bit for bit as alone.
        """
        treated = [one for one in outcomes if one.num_patients]
        for one in treated:
            if one.max_dose > self.num_doses:
                raise InputError("outcomes", f"dose {one.max_dose} is outside 1..{self.num_doses}")
        if not treated:
            return [None] * len(outcomes)
        tox = np.array([one.tox_at_dose(self.num_doses) for one in treated], dtype=float)
        nontox = np.array([one.n_at_dose(self.num_doses) for one in treated], dtype=float) - tox
        fits = iter(bayes_fits(self.working_model, self.target, tox, nontox, scale=self.scale))
        return [next(fits) if one.num_patients else None for one in outcomes]


class CrmFit(CoreFit):
    """A CRM fitted to outcomes, with escalation's summaries (see the module docstring)."""

    def __init__(self, outcomes: Outcomes, design: Crm, result: CrmResult | None, path: Fit | None = None) -> None:
        super().__init__(outcomes, design.num_doses, path)
        self.design = design
        self.result = result

    # The posterior of β, for stages that integrate over it (e.g. select_dose_by_cibp).
    @property
    def estimate(self) -> float | None:
        """dfcrm's posterior mean of β (``None`` without patients)."""
        return None if self.result is None else self.result.estimate

    @property
    def post_var(self) -> float | None:
        """dfcrm's posterior variance of β (``None`` without patients)."""
        return None if self.result is None else self.result.post_var

    def prob_tox_at(self, beta: np.ndarray) -> np.ndarray:
        """The model's toxicity probability at every dose for each β: shape ``beta.shape + (num_doses,)``."""
        return self.design.working_model.prob_grid(beta)

    # Decisions.
    def model_dose(self) -> int:
        """The dose the CRM itself recommends: dose 1 without patients, else dfcrm's ``mtd``."""
        return 1 if self.result is None else self.result.mtd

    def path_dose(self) -> int | None:
        """The ``follow_path`` dose while that path is being followed, else ``None``."""
        if self.path is None or not self.path.continues():
            return None
        return self.path.recommended_dose()

    def recommended_dose(self) -> int | None:
        path_dose = self.path_dose()
        return path_dose if path_dose is not None else self.model_dose()

    def continues(self) -> bool:
        return True

    def reason(self) -> str:
        path_dose = self.path_dose()
        if path_dose is not None:
            return f"following the path: dose {path_dose} (the CRM alone would choose dose {self.model_dose()})"
        if self.result is None:
            return "no patients yet: start at dose 1"
        return self._model_reason(self.result)

    def _model_reason(self, result: CrmResult) -> str:
        dose, target = result.mtd, self.design.target
        where = f"CRM ({self.design.model}): "
        estimate = f"estimated toxicity {result.ptox[dose - 1]:.3f}"
        basis = mtd_basis(result.ptox, target)
        if basis == "all_below":
            return where + f"every dose is estimated at or below target {target:g}: top {dose_text(dose)} ({estimate})"
        if basis == "all_above":
            return where + f"every dose is estimated at or above target {target:g}: {dose_text(dose)} ({estimate})"
        return where + f"{dose_text(dose)} has {estimate}, closest to target {target:g}"

    # Model summaries (dose_admissible: escalation's default, every dose, even before any patient).
    def tox_target(self) -> float:
        return self.design.target

    def mean_prob_tox(self) -> ProbVector:
        return self.design.skeleton if self.result is None else self.result.ptox

    def median_prob_tox(self) -> ProbVector:
        return self.prob_tox_quantile(0.5)

    def prob_tox_quantile(self, p: float) -> ProbVector:
        sd = self._posterior_sd()
        if sd is None:
            return self._none()
        return _defined(self.design.working_model.prob(self.estimate + sd * float(ndtri(1.0 - p))))

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        sd = self._posterior_sd()
        if sd is None:
            return self._none()
        boundary = self.design.working_model.beta_at(threshold)
        return _defined(ndtr((boundary - self.estimate) / sd))

    def _posterior_sd(self) -> float | None:
        if self.result is None or not self.result.post_var >= 0:
            return None
        return math.sqrt(self.result.post_var)


def _defined(values: "tuple[float, ...] | np.ndarray") -> ProbVector:
    """Floats, with R's NaN (an undefined value) as ``None``."""
    return tuple(None if math.isnan(v) else float(v) for v in values)
