"""escalation's ``select_dose_by_cibp``: choose the dose by Mozgunov & Jaki's CIBP criterion.

The convex infinite bounds penalisation criterion (Mozgunov & Jaki 2020,
Statistics in Medicine 39(7)) picks the dose minimising

    E[(p_d - target)² / (p_d^a · (1 - p_d)^(2 - a))],   0 < a < 2,

over the posterior of the CRM parameter β, taken (as escalation does) to be
normal with dfcrm's posterior mean and variance; ``a < 1`` penalises toxic
doses more.  It changes the dose, never whether the trial continues; with no
patients the parent's dose stands.  The target is the parent model's.  The
first of several minimal doses wins, NaN ignored, as with R's ``which.min``.

escalation averages over 4000 random draws of β (one shared ``rnorm(4000,
est, sqrt(post.var))`` for all doses).  The expectation itself is infinite
for every dose when a > 0: as β grows, ``p_d`` falls like ``exp(-c·e^β)`` and
``p_d^-a`` outgrows the normal density.  There are two ways to answer:

* Default (``r_seed`` absent): a truncated integral.  R's average is finite
  only because 4000 draws rarely leave the central ``±z`` range with
  ``z = Φ⁻¹(1 - 1/8000) ≈ 3.66`` (one draw beyond it is expected), so that is
  the range integrated here, with a fixed Gauss–Legendre rule: deterministic,
  and it reproduces R's decision wherever that does not hinge on one rare
  extreme draw.  Probabilities that underflow to 0 or 1 make the criterion
  infinite, as in R.
* ``r_seed`` given: R's own draws after ``set.seed(r_seed)`` (see
  :mod:`..numerics.r_rng`), with the criterion evaluated in R's IEEE
  arithmetic: a probability of exactly 0 or 1, or a denominator that
  underflows to 0, makes that draw's term, and so the dose's mean, infinite;
  means are long-double sums in draw order, as R's ``colMeans``.  (``p_d``
  is the CRM's own; for the logistic model R's ``inv.logit`` computes it as
  ``e^z / (1 + e^z)``, equal to within an ulp or two.)  It reproduces R's
  answer for the R call that set that seed, seed artefacts included,
  provided the cibp stage makes the call's first use of the RNG.

The seed artefact.  Of the 83 published escalation cases that use this stage
with patients, the quadrature agrees with R on 82; with ``r_seed`` taken from
each case's ``set.seed``, on all 83.  In esc-p-00210 (``set.seed(1219)``) one
of R's 4000 draws lies 4.77 posterior SDs out (β ≈ 8.1, so ``e^β`` ≈ 3300),
where every dose's ``p_d`` underflows to exactly 0: every mean is infinite
and ``which.min`` returns dose 1, an artefact of that seed.  The quadrature,
blind to so rare a draw, picks dose 6.

Only a core with such a posterior (``crm``) supports this; escalation stops
with an error for other cores once there are patients, and so does this.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy.special import logsumexp, ndtri

from ..errors import InputError
from ..fit import DerivedFit, Fit, dose_text
from ..numerics.quadrature import composite
from ..numerics.r_rng import R_INT_MAX, r_rnorm, r_set_seed_state
from ..registry import register
from ..selector import Behaviour, Feature, require
from ._common import BehaviourFit, answer_text, require_count, require_number

#: escalation's number of posterior draws
R_DRAWS = 4000
#: half-width, in posterior standard deviations, of the range R's draws cover
COVERED_SD = float(ndtri(1.0 - 1.0 / (2 * R_DRAWS)))
#: Gauss–Legendre panels over that range (16 nodes each)
PANELS = 8


@runtime_checkable
class NormalPosterior(Protocol):
    """A fit whose one model parameter β has an (approximately) normal posterior: the CRM's.

    ``estimate`` and ``post_var`` are its mean and variance, ``None`` before any patient.
    """

    estimate: float | None
    post_var: float | None

    def prob_tox_at(self, beta: np.ndarray) -> np.ndarray:
        """P(toxicity) per dose at each β: shape ``beta.shape + (num_doses,)``."""


@register
@dataclass(frozen=True, kw_only=True)
class SelectDoseByCibp(Behaviour):
    """Select the dose minimising the CIBP criterion with asymmetry ``a``.

    ``r_seed``: reproduce R's Monte Carlo criterion after ``set.seed(r_seed)``
    (an R integer); absent, the expectation is computed by quadrature.
    """

    kind: ClassVar[str] = "select_dose_by_cibp"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    a: float
    r_seed: int | None = None

    def __post_init__(self) -> None:
        require_number(self.a, "a")
        require(0.0 < self.a < 2.0, "a", f"{self.a} is not strictly between 0 and 2")
        if self.r_seed is not None:
            require_count(self.r_seed, "r_seed", minimum=-R_INT_MAX)
            require(self.r_seed <= R_INT_MAX, "r_seed", f"{self.r_seed} is more than R's largest integer")

    def wrap(self, parent: Fit) -> DerivedFit:
        return SelectDoseByCibpFit(parent, self)


@lru_cache(maxsize=1)
def _standard_normal_rule() -> tuple[np.ndarray, np.ndarray]:
    """Nodes z in [-COVERED_SD, COVERED_SD] and log weights including the normal density's shape."""
    rule = composite(-COVERED_SD, COVERED_SD, PANELS)
    return rule.nodes, np.log(rule.weights) - rule.nodes**2 / 2.0


def log_cibp_penalty(prob_tox: np.ndarray, target: float, a: float) -> np.ndarray:
    """Log of the CIBP penalty for each probability (``+inf`` where it is 0 or 1)."""
    with np.errstate(divide="ignore"):
        return (2.0 * np.log(np.abs(prob_tox - target)) - a * np.log(prob_tox)
                - (2.0 - a) * np.log1p(-prob_tox))


def r_cibp_criterion(prob_tox: np.ndarray, target: float, a: float) -> np.ndarray:
    """escalation's ``colMeans(numerator / denominator)`` over draws (rows), in R's arithmetic.

    Terms are IEEE double as in R: a probability of 0 or 1, or a denominator
    that underflows, gives ``inf`` (``nan`` for 0/0).  ``colMeans`` sums each
    column in order in a long double, then divides and rounds to double.
    """
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        terms = (prob_tox - target) ** 2 / (prob_tox**a * (1.0 - prob_tox) ** (2.0 - a))
        sums = np.cumsum(terms.astype(np.longdouble), axis=0)[-1]
        return (sums / len(terms)).astype(np.float64)


def r_which_min(values: np.ndarray) -> int | None:
    """R's ``which.min``, 1-based: the first smallest value, NaN ignored (``None`` if all are NaN)."""
    candidates = np.flatnonzero(~np.isnan(values))
    if candidates.size == 0:
        return None
    return int(candidates[np.argmin(values[candidates])]) + 1


def _posterior_of(fit: Fit) -> NormalPosterior | None:
    """The nearest fit up the chain that has a normal parameter posterior (R's ``prob_tox_samples``)."""
    current: Fit | None = fit
    while current is not None and not isinstance(current, NormalPosterior):
        current = current.parent_fit()
    return current


class SelectDoseByCibpFit(BehaviourFit[SelectDoseByCibp]):
    """The parent's fit with the dose chosen by the CIBP criterion."""

    def _error(self, problem: str) -> InputError:
        return InputError(f"design.stages[{self.rule.index}].{self.rule.kind}", problem)

    def _core_kind(self) -> str:
        fit: Fit = self.parent
        while isinstance(fit, DerivedFit):
            fit = fit.parent
        return fit.stage

    @cached_property
    def _target(self) -> float:
        target = self.parent.tox_target()
        if target is None:
            raise self._error(f"the CIBP criterion needs a target toxicity; {self._core_kind()} has none")
        return target

    def _criterion(self, target: float) -> np.ndarray:
        """Per dose, the expected CIBP penalty (``r_seed`` given: R's mean over its draws) or its log."""
        posterior = _posterior_of(self.parent)
        if posterior is None:
            raise self._error("the CIBP criterion needs a model with a posterior for its parameter (crm); "
                              f"{self._core_kind()} has none")
        assert posterior.estimate is not None and posterior.post_var is not None, "fitted to patients"
        sd = float(np.sqrt(posterior.post_var))
        if self.rule.r_seed is not None:
            beta = r_rnorm(r_set_seed_state(self.rule.r_seed), R_DRAWS, posterior.estimate, sd)
            return r_cibp_criterion(posterior.prob_tox_at(beta), target, self.rule.a)
        z, log_w = _standard_normal_rule()
        penalty = log_cibp_penalty(posterior.prob_tox_at(posterior.estimate + sd * z), target, self.rule.a)
        return logsumexp(penalty + log_w[:, None], axis=0)

    @cached_property
    def _dose(self) -> int | None:
        target = self._target  # escalation asks for the target even before the first patient
        if self.num_patients == 0:
            return self.parent.recommended_dose()
        return r_which_min(self._criterion(target))

    def recommended_dose(self) -> int | None:
        return self._dose

    def explain(self) -> str:
        if self.num_patients == 0:
            return f"no patients yet; {self.unchanged()}"
        draws = "" if self.rule.r_seed is None else f", R's draws after set.seed({self.rule.r_seed})"
        return (f"parent recommends {dose_text(self.parent.recommended_dose())}; the CIBP criterion "
                f"(a = {self.rule.a:g}, target {self._target:g}{draws}) is smallest at "
                f"{dose_text(self._dose)}: {answer_text(self)}")
