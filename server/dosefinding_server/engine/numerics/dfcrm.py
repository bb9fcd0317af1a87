"""dfcrm's ``crm`` and ``titecrm``: the one-parameter continual reassessment method.

The CRM (O'Quigley, Pepe & Fisher 1990) models the toxicity probability at
dose level ``d`` as ``F(x_d, β)`` with one parameter β, updates β after every
patient and recommends the dose whose estimated toxicity is closest to the
target.  dfcrm 0.2-2.1 (Cheung 2011, *Dose Finding by the Continual
Reassessment Method*, ch. 3–4; dfcrm's ``crm``/``titecrm`` documentation)
uses either model, each calibrated so that ``F(x_d, 0)`` is the skeleton:

* empiric (power): ``F = x^exp(β)`` with ``x`` = the skeleton;
* one-parameter logistic: ``F = 1 / (1 + exp(-a - exp(β)·x))`` with
  ``x = logit(skeleton) - a`` ("dose scaled") and fixed intercept ``a``.

β has a normal prior ``N(0, scale²)``.  With toxicity indicators ``y_i`` and
weights ``w_i`` (1, except the follow-up weights of the TITE-CRM of Cheung &
Chappell 2000, where a non-toxic patient observed for part of the window
counts as ``1 - w_i F``), the posterior kernel is

    h(β) = exp(-β² / (2 scale²)) · Π_i F_i^y_i · (1 - w_i F_i)^(1 - y_i).

``method = "bayes"``: the estimate is the posterior mean and ``post_var`` the
posterior variance, with dfcrm's ranges: the normalising constant over the
whole line, both numerators over ``[-10, 10]``.  ``method = "mle"``: the
maximiser of the log-likelihood on ``[-10, 10]`` (dfcrm calls ``optimize``
there), and a "variance" ``∫ β² h₅₀₀ / ∫ h₅₀₀ - est²`` with a flat
``N(0, 500²)`` prior, numerator over ``[-100, 100]`` (crm) or ``[-10, 10]``
(titecrm), denominator over ``[-10, 10]``: not a variance about the MLE, so
it can be negative.  (FORMAT.md section 4.1 states these ranges.)

The likelihood depends on the data only through sufficient statistics —
toxicities per dose and non-toxic patients per (dose, weight) — so the
log-likelihood at every quadrature node is a short sum of counts times
per-model tables of ``log F`` and ``log(1 - F)`` that are computed once per
skeleton (see :mod:`.quadrature` for the accuracy of the fixed rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from scipy.special import ndtri

from ..errors import InputError
from ..selector import require
from .quadrature import NEGLIGIBLE_LOG, Rule, composite, geometric, join, scaled_sums, semi_infinite

EMPIRIC = "empiric"
LOGISTIC = "logistic"
MODELS = (EMPIRIC, LOGISTIC)
METHODS = ("bayes", "mle")
SCHEMES = ("linear", "adaptive")
DEFAULT_SCALE = math.sqrt(1.34)

#: dfcrm's range for the posterior numerators and for the MLE
BETA_RANGE = 10.0
#: prior standard deviation dfcrm uses for the MLE's variance
MLE_SCALE = 500.0
#: crm's numerator range for the MLE's variance (titecrm uses BETA_RANGE)
MLE_CRM_RANGE = 100.0
#: composite-rule panels per unit of β inside [-10, 10] (see the accuracy notes in .quadrature)
PANELS_PER_UNIT = 5
#: width of the first panel of the MLE variance's outer ranges, which double away from ±10
OUTER_FIRST_PANEL = 0.25
#: the MLE's Newton iteration stops when b = exp(β) moves by less than this, relatively
#: (β is then exact to about 1e-12; R's optimize(tol = 1e-4) is the reference's benchmark)
MLE_RELATIVE_TOLERANCE = 1e-12
#: skeletons whose node tables are kept (each table is ~13 KB per dose level)
TABLE_CACHE_SIZE = 64
#: stands in for log(0) so that a zero count times it stays 0
LOG_ZERO = -1e30
#: trials whose posteriors are integrated together: enough to amortise numpy's cost per call, few enough
#: for the block's two work arrays (rows × nodes) to stay in the processor's cache
ROWS_PER_BLOCK = 32


@dataclass(frozen=True)
class CrmResult:
    """dfcrm's ``crm``/``titecrm`` answer (``ptox_lower``/``ptox_upper`` are R's ``ptoxL``/``ptoxU``).

    The pointwise interval at ``conf_level`` is computed when first read: a
    simulator fits thousands of times and reads only the dose.
    """

    mtd: int
    estimate: float
    post_var: float
    prior_var: float
    ptox: tuple[float, ...]
    conf_level: float
    model: "WorkingModel" = field(repr=False)
    weights: tuple[float, ...]

    @property
    def dosescaled(self) -> tuple[float, ...]:
        return self.model.dosescaled

    @property
    def ptox_lower(self) -> tuple[float | None, ...]:
        return self._bounds[0]

    @property
    def ptox_upper(self) -> tuple[float | None, ...]:
        return self._bounds[1]

    @cached_property
    def _bounds(self) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
        return _interval(self.model, self.estimate, self.post_var, self.conf_level)


# ----------------------------------------------------------------------------------------------
# Input checks shared with the escalation ``crm`` stage.

_PLAIN_NUMBERS = {int, float, np.int64, np.float64}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def check_each(values: Sequence[Any], field: str, ok: Callable[[Any], bool], problem: Callable[[Any], str]) -> None:
    """:class:`InputError` naming ``field[i]`` for the first value that is not ``ok``.

    The message is built only on failure: validation runs on every fit.
    """
    if all(map(ok, values)):
        return
    index = next(i for i, v in enumerate(values) if not ok(v))
    raise InputError(f"{field}[{index}]", problem(values[index]))


def float_tuple(values: Any, field: str) -> tuple[float, ...]:
    """``values`` as a tuple of finite floats, or :class:`InputError` naming ``field``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise InputError(field, f"expected a list of numbers, got {values!r}")
    if set(map(type, values)) <= _PLAIN_NUMBERS:  # fast path: no bools, strings or None
        floats = tuple(map(float, values))
        if all(map(math.isfinite, floats)):
            return floats
    check_each(values, field, _is_finite_number, lambda v: f"{v!r} is not a finite number")
    return tuple(map(float, values))


def check_skeleton(skeleton: tuple[float, ...], field: str) -> None:
    """A skeleton is a non-empty, non-decreasing list of probabilities strictly between 0 and 1."""
    require(len(skeleton) > 0, field, "needs at least one dose level")
    check_each(skeleton, field, lambda p: 0.0 < p < 1.0, lambda p: f"{p} is not strictly between 0 and 1")
    drops = [i for i in range(1, len(skeleton)) if skeleton[i] < skeleton[i - 1]]
    if drops:
        i = drops[0]
        raise InputError(f"{field}[{i}]", f"{skeleton[i]} is below the previous level's {skeleton[i - 1]}: "
                                          "the skeleton must not decrease")


def check_model(model: str, intcpt: float, skeleton: tuple[float, ...], field: str) -> None:
    """The model must be known and, for the logistic model, every scaled dose negative."""
    if model not in MODELS:
        raise InputError("model", f"{model!r} is not one of {', '.join(MODELS)}")
    if not _is_finite_number(intcpt):
        raise InputError("intcpt", f"{intcpt!r} is not a finite number")
    top = skeleton[-1]
    if model == LOGISTIC and not math.log(top / (1 - top)) < intcpt:
        raise InputError("intcpt", f"intercept {intcpt} is too small for the logistic model: logit({top}) of "
                                   f"the top {field} level must be below it (dfcrm: scaled doses > 0)")


def check_scale(scale: float) -> None:
    if not (_is_finite_number(scale) and scale > 0):
        raise InputError("scale", f"{scale!r} is not a positive number (the prior standard deviation of β)")


def check_target(target: float) -> None:
    if not (_is_number(target) and 0.0 < target < 1.0):
        raise InputError("target", f"{target!r} is not strictly between 0 and 1")


# ----------------------------------------------------------------------------------------------
# The working model.

def _exp(x: float) -> float:
    """``exp`` with IEEE overflow to infinity, as R's ``exp`` (``math.exp`` raises instead)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


class SlopeDerivatives(NamedTuple):
    """Per-dose ``F``, ``1 - F``, ``dF/db``, ``d²F/db²``, ``d log F/db``, ``d² log F/db²`` at one ``b = exp(β)``."""

    f: np.ndarray
    q: np.ndarray
    df: np.ndarray
    d2f: np.ndarray
    dlog_f: np.ndarray
    d2log_f: np.ndarray


@dataclass(frozen=True)
class WorkingModel:
    """The CRM's dose-toxicity model ``F(x_d, β)``; decreasing in β at every dose.

    Build with :meth:`calibrated`.  ``prob`` reproduces R's floating-point
    expressions (decisions compare its values); the ``*_grid`` methods are the
    vectorised forms used for integration.
    """

    model: str
    intcpt: float
    dosescaled: tuple[float, ...]

    @classmethod
    def calibrated(cls, skeleton: Any, model: str = EMPIRIC, intcpt: float = 3.0,
                   *, field: str = "prior") -> "WorkingModel":
        """The model whose toxicity at ``β = 0`` is ``skeleton``; validates all three inputs."""
        values = float_tuple(skeleton, field)
        check_skeleton(values, field)
        check_model(model, intcpt, values, field)
        if model == EMPIRIC:
            return cls(model, float(intcpt), values)
        return cls(model, float(intcpt), tuple(math.log(p / (1 - p)) - intcpt for p in values))

    @property
    def num_doses(self) -> int:
        return len(self.dosescaled)

    def prob(self, beta: float) -> tuple[float, ...]:
        """``F(x_d, β)`` at every dose, computed as dfcrm does."""
        slope = _exp(beta)
        if self.model == EMPIRIC:
            return tuple([x ** slope for x in self.dosescaled])
        return tuple([1.0 / (1.0 + _exp(-self.intcpt - slope * x)) for x in self.dosescaled])

    def prob_grid(self, beta: np.ndarray) -> np.ndarray:
        """``F(x_d, β)`` for every β in ``beta``: shape ``beta.shape + (num_doses,)``."""
        x = np.asarray(self.dosescaled)
        with np.errstate(over="ignore"):
            slope = np.exp(np.asarray(beta, dtype=float))[..., None]
            if self.model == EMPIRIC:
                return np.power(x, slope)
            return 1.0 / (1.0 + np.exp(-self.intcpt - slope * x))

    def log_prob_grid(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log F`` and ``log(1 - F)`` at every dose (rows) and β (columns), accurate in both tails."""
        slope = np.exp(np.asarray(beta, dtype=float))[None, :]
        x = np.asarray(self.dosescaled)[:, None]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if self.model == EMPIRIC:
                log_f = slope * np.log(x)
                log_q = np.log(-np.expm1(log_f))
            else:
                z = self.intcpt + slope * x
                log_f = -np.logaddexp(0.0, -z)
                log_q = -np.logaddexp(0.0, z)
        return np.maximum(log_f, LOG_ZERO), np.maximum(log_q, LOG_ZERO)

    def slope_derivatives(self, slope: float) -> SlopeDerivatives:
        """``F`` and ``log F`` with their first two derivatives in ``b = exp(β)``, at every dose."""
        x = np.asarray(self.dosescaled)
        if self.model == EMPIRIC:
            log_x = np.log(x)
            f = np.exp(slope * log_x)
            return SlopeDerivatives(f, -np.expm1(slope * log_x), log_x * f, log_x**2 * f,
                                    log_x, np.zeros_like(x))
        z = self.intcpt + slope * x
        with np.errstate(over="ignore"):
            f, q = 1.0 / (1.0 + np.exp(-z)), 1.0 / (1.0 + np.exp(z))
        return SlopeDerivatives(f, q, x * f * q, x**2 * f * q * (q - f), x * q, -(x**2) * f * q)

    def beta_at(self, threshold: float) -> np.ndarray:
        """The β at which each dose's toxicity equals ``threshold`` (NaN where none does)."""
        x = np.asarray(self.dosescaled)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.model == EMPIRIC:
                return np.log(np.log(threshold) / np.log(x))
            return np.log((np.log(threshold / (1 - threshold)) - self.intcpt) / x)


# ----------------------------------------------------------------------------------------------
# Data.

@dataclass(frozen=True)
class Tallies:
    """Sufficient statistics of CRM data.

    ``tox[d]`` toxicities and ``nontox[d]`` fully weighted non-toxic patients
    at dose ``d`` (0-based); non-toxic patients with weight below 1 are
    grouped by (dose, weight) in ``partial_dose``, ``partial_weight`` and
    ``partial_count``.
    """

    tox: np.ndarray
    nontox: np.ndarray
    partial_dose: np.ndarray
    partial_weight: np.ndarray
    partial_count: np.ndarray

    @classmethod
    def of(cls, tox: Sequence[int], level: Sequence[int], weights: Sequence[float] | None,
           num_doses: int) -> "Tallies":
        """Tally 0/1 toxicities at 1-based levels; ``weights`` None means every weight is 1."""
        tox_count = [0.0] * num_doses
        full_count = [0.0] * num_doses
        groups: dict[tuple[int, float], float] = {}
        for index, (y, dose) in enumerate(zip(tox, level)):
            weight = 1.0 if weights is None else weights[index]
            if y:
                tox_count[dose - 1] += 1.0
            elif weight >= 1.0:
                full_count[dose - 1] += 1.0
            else:
                groups[(dose - 1, weight)] = groups.get((dose - 1, weight), 0.0) + 1.0
        return cls(
            tox=np.array(tox_count),
            nontox=np.array(full_count),
            partial_dose=np.array([d for d, _ in groups], dtype=np.intp),
            partial_weight=np.array([w for _, w in groups], dtype=float),
            partial_count=np.array(list(groups.values()), dtype=float),
        )

    @property
    def num_tox(self) -> int:
        return int(self.tox.sum())


# ----------------------------------------------------------------------------------------------
# Quadrature grids: nodes, the log prior there, and weight columns for ∫h, ∫βh, ∫β²h.

@dataclass(frozen=True, eq=False)
class Grid:
    """Where dfcrm integrates: ``moments[j]`` integrates ``β^j h`` over dfcrm's range for it."""

    rule: Rule
    log_prior: np.ndarray
    moments: np.ndarray
    search: slice  # the nodes inside [-BETA_RANGE, BETA_RANGE], ascending


def _inner_rule() -> Rule:
    return composite(-BETA_RANGE, BETA_RANGE, int(2 * BETA_RANGE * PANELS_PER_UNIT))


def _grid(left: Rule, inner: Rule, right: Rule, scale: float, den_inner_only: bool, num_inner_only: bool) -> Grid:
    rule = join(left, inner, right)
    beta = rule.nodes
    inside = np.zeros(len(rule), dtype=bool)
    search = slice(len(left), len(left) + len(inner))
    inside[search] = True
    den = np.where(inside | (not den_inner_only), rule.weights, 0.0)
    num = np.where(inside | (not num_inner_only), rule.weights, 0.0)
    moments = np.stack([den, beta * num, beta**2 * num])
    return Grid(rule, -(beta**2) / (2.0 * scale**2), moments, search)


@lru_cache(maxsize=64)
def bayes_grid(scale: float) -> Grid:
    """The posterior: normalising constant over the whole line, numerators over [-10, 10]."""
    left = semi_infinite(-BETA_RANGE, -1, scale)
    right = semi_infinite(BETA_RANGE, 1, scale)
    return _grid(left, _inner_rule(), right, scale, den_inner_only=False, num_inner_only=True)


@lru_cache(maxsize=2)
def mle_grid(tite: bool) -> Grid:
    """The MLE's variance: flat prior, denominator over [-10, 10], numerator over [-100, 100] (crm) or [-10, 10]."""
    inner = _inner_rule()
    if tite:
        empty = Rule(np.empty(0), np.empty(0))
        return _grid(empty, inner, empty, MLE_SCALE, den_inner_only=True, num_inner_only=True)
    left = geometric(-BETA_RANGE, -MLE_CRM_RANGE, OUTER_FIRST_PANEL)
    right = geometric(BETA_RANGE, MLE_CRM_RANGE, OUTER_FIRST_PANEL)
    return _grid(left, inner, right, MLE_SCALE, den_inner_only=True, num_inner_only=False)


@lru_cache(maxsize=TABLE_CACHE_SIZE)
def _log_tables(model: WorkingModel, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``log F`` and ``log(1 - F)`` at the grid's nodes: computed once per model and grid."""
    return model.log_prob_grid(grid.rule.nodes)


@lru_cache(maxsize=TABLE_CACHE_SIZE)
def _kernel_tables(model: WorkingModel, grid: Grid) -> np.ndarray:
    """The rows whose weighted sum is ``log h`` (see :func:`_kernel_weights`): the log prior, ``log F`` per
    dose, then ``log(1 - F)`` per dose."""
    return np.vstack([grid.log_prior, *_log_tables(model, grid)])


def _kernel_weights(tox: np.ndarray, nontox: np.ndarray) -> np.ndarray:
    """The weights of the rows of :func:`_kernel_tables` for per-dose counts of shape ``(..., num_doses)``:
    1 (the prior), the toxicities, then the fully weighted non-toxic patients."""
    tox = np.asarray(tox, dtype=float)
    return np.concatenate([np.ones(tox.shape[:-1] + (1,)), tox, np.asarray(nontox, dtype=float)], axis=-1)


def log_kernel(model: WorkingModel, grid: Grid, weights: np.ndarray, partial: Tallies | None = None, *,
               out: np.ndarray | None = None) -> np.ndarray:
    """``log h`` (log-likelihood plus log prior) at every node of ``grid``, into ``out`` if given.

    ``weights`` (from :func:`_kernel_weights`) may carry leading trial axes;
    ``partial`` adds one trial's partially weighted patients (TITE-CRM).
    The weighted rows are added by ``numpy.einsum``'s own loops (not BLAS:
    no ``optimize``), one row after the other, so that a trial's values are
    the same bit for bit whatever other trials share the call (a BLAS matrix
    product may round differently with the shape of the batch).  A count
    that is zero in every trial of the call only adds exact zeros (the
    tables are finite), so its row is left out.
    """
    used = np.flatnonzero(np.any(weights.reshape(-1, weights.shape[-1]), axis=0))
    value = np.einsum("...k,kn->...n", weights[..., used], _kernel_tables(model, grid)[used], out=out)
    if partial is not None and len(partial.partial_count):
        value = _with_partial(value, _survival_table(model, grid), partial)
    return value


@lru_cache(maxsize=TABLE_CACHE_SIZE)
def _survival_table(model: WorkingModel, grid: Grid) -> np.ndarray:
    """``1 - F`` at the grid's nodes (TITE-CRM's partial weights need it): computed once."""
    return np.exp(_log_tables(model, grid)[1])


def _with_partial(value: np.ndarray, survival: np.ndarray, partial: Tallies) -> np.ndarray:
    """``value`` (one trial's) plus ``Σ c·log(1 - w F)`` over the partially weighted groups, where that can matter.

    ``1 - w F`` is evaluated as ``(1 - w) + w (1 - F)``, a sum of positive
    terms, so it keeps full precision where F is near 1.  Each group adds at
    least ``c·log(1 - w)``, so a node that is more than NEGLIGIBLE_LOG below
    the best node even without these terms stays negligible
    (:func:`.quadrature.scaled_sums` drops it, and it cannot be the best
    node); it keeps its upper bound.  TITE fits with many distinct weights
    then cost groups × live nodes rather than groups × all nodes.
    """
    w = partial.partial_weight[:, None]
    floor = value.max() + partial.partial_count @ np.log1p(-partial.partial_weight) - NEGLIGIBLE_LOG
    live = np.flatnonzero(value >= floor)
    result = value.copy()
    result[..., live] += partial.partial_count @ np.log((1.0 - w) + w * survival[partial.partial_dose[:, None], live])
    return result


def posterior_mean_var(model: WorkingModel, scale: float, tox_counts: np.ndarray, nontox_counts: np.ndarray,
                       partial: Tallies | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dfcrm's Bayesian estimate and posterior variance of β, for many trials at once.

    ``tox_counts`` and ``nontox_counts`` have shape ``(..., num_doses)``
    (toxicities and fully weighted non-toxic patients per dose); the results
    have the leading shape.  ``partial`` adds one trial's partially weighted
    patients (TITE-CRM).  This is the form a simulator should call: trials
    are integrated in blocks of :data:`ROWS_PER_BLOCK` in reused work
    arrays, those with patients at the same doses together (a block leaves
    out the counts none of its trials has), and each trial's result is the
    same bit for bit as its fit alone (see :func:`log_kernel` and
    :func:`.quadrature.scaled_sums`).
    """
    grid = bayes_grid(float(scale))
    weights = _kernel_weights(tox_counts, nontox_counts)
    rows = weights.reshape(-1, weights.shape[-1])
    order = np.lexsort((rows != 0).T) if len(rows) > ROWS_PER_BLOCK else np.arange(len(rows))
    work = np.empty((2, min(len(rows), ROWS_PER_BLOCK), len(grid.log_prior)))
    sums = np.empty((len(rows), len(grid.moments)))
    for start in range(0, len(rows), ROWS_PER_BLOCK):
        block = order[start:start + ROWS_PER_BLOCK]
        kernel = log_kernel(model, grid, rows[block], partial, out=work[0, :len(block)])
        sums[block] = scaled_sums(kernel, grid.moments, scratch=work[1, :len(block)])
    sums = sums.reshape(weights.shape[:-1] + (-1,))
    mean = sums[..., 1] / sums[..., 0]
    return mean, sums[..., 2] / sums[..., 0] - mean**2


# ----------------------------------------------------------------------------------------------
# Maximum likelihood.

def _score(model: WorkingModel, tallies: Tallies, slope: float) -> tuple[float, float]:
    """First and second derivative of the log-likelihood in ``b = exp(β)`` (concave in b)."""
    f, q, d1, d2, dlog_f, d2log_f = model.slope_derivatives(slope)
    first = tallies.tox @ dlog_f - tallies.nontox @ (d1 / q)
    second = tallies.tox @ d2log_f - tallies.nontox @ ((d2 * q + d1**2) / q**2)
    if len(tallies.partial_count):
        w, d = tallies.partial_weight, tallies.partial_dose
        rest = (1.0 - w) + w * q[d]
        first -= tallies.partial_count @ (w * d1[d] / rest)
        second -= tallies.partial_count @ ((w * d2[d] * rest + (w * d1[d]) ** 2) / rest**2)
    return float(first), float(second)


def _maximise(model: WorkingModel, tallies: Tallies, grid: Grid, loglik: np.ndarray) -> float:
    """The MLE of β on [-10, 10]: best node of the grid, then safeguarded Newton in ``b = exp(β)``.

    The log-likelihood is concave in b for both models (sums of log-concave
    terms), hence unimodal in β: the maximum lies between the best node's
    neighbours.  dfcrm's ``optimize(tol = 1e-4)`` stops within about 1e-4 of
    this point; the reference tolerances allow for that.
    """
    nodes = grid.rule.nodes[grid.search]
    best = int(np.argmax(loglik[grid.search]))
    lo = nodes[best - 1] if best > 0 else -BETA_RANGE
    hi = nodes[best + 1] if best + 1 < len(nodes) else BETA_RANGE
    lo_b, hi_b = math.exp(lo), math.exp(hi)
    if lo == -BETA_RANGE and _score(model, tallies, lo_b)[0] <= 0:
        return -BETA_RANGE
    if hi == BETA_RANGE and _score(model, tallies, hi_b)[0] >= 0:
        return BETA_RANGE
    slope = math.exp(nodes[best])
    for _ in range(100):
        first, second = _score(model, tallies, slope)
        if first == 0:
            break
        if first > 0:
            lo_b = slope
        else:
            hi_b = slope
        step = slope - first / second if second < 0 else math.nan
        if abs(step - slope) <= MLE_RELATIVE_TOLERANCE * slope:
            return math.log(step)
        slope = step if lo_b < step < hi_b else 0.5 * (lo_b + hi_b)
    return math.log(slope)


def _mle(model: WorkingModel, tallies: Tallies, tite: bool) -> tuple[float, float]:
    grid = mle_grid(tite)
    kernel = log_kernel(model, grid, _kernel_weights(tallies.tox, tallies.nontox), tallies)
    estimate = _maximise(model, tallies, grid, kernel - grid.log_prior)
    den, _, second = scaled_sums(kernel, grid.moments)
    return estimate, float(second / den - estimate**2)


# ----------------------------------------------------------------------------------------------
# Decisions and intervals.

def mtd_basis(ptox: Sequence[float], target: float) -> str:
    """Which branch of dfcrm's rule picks the dose: ``"all_below"``, ``"all_above"`` or ``"closest"``."""
    if max(ptox) <= target:
        return "all_below"
    if min(ptox) >= target:
        return "all_above"
    return "closest"


def select_mtd(ptox: Sequence[float], target: float) -> int:
    """dfcrm's recommendation: the top dose if every estimate is at most the target, dose 1 if every
    estimate is at least the target, else the first dose whose estimate is closest to the target."""
    basis = mtd_basis(ptox, target)
    if basis == "all_below":
        return len(ptox)
    if basis == "all_above":
        return 1
    distances = [abs(p - target) for p in ptox]
    return distances.index(min(distances)) + 1


@lru_cache(maxsize=16)
def _critical_value(conf_level: float) -> float:
    """``qnorm(0.5 + conf_level / 2)``, once per level (every fit needs it)."""
    return float(ndtri(0.5 + conf_level / 2))


def _interval(model: WorkingModel, estimate: float, post_var: float,
              conf_level: float) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
    """dfcrm's pointwise interval: the model at ``est ± qnorm(0.5 + conf/2)·sd`` (larger β, lower toxicity)."""
    if not post_var >= 0:
        none = (None,) * model.num_doses
        return none, none
    half = _critical_value(conf_level) * math.sqrt(post_var)
    return model.prob(estimate + half), model.prob(estimate - half)


# ----------------------------------------------------------------------------------------------
# Public entry points.

def _check_tox(tox: Any) -> list[int]:
    values = float_tuple(tox, "tox")
    require(len(values) > 0, "tox", "needs at least one patient")
    if not set(values) <= {0.0, 1.0}:
        check_each(values, "tox", lambda v: v in (0.0, 1.0), lambda v: f"{v} is not 0 (no toxicity) or 1 (toxicity)")
    return [int(v) for v in values]


def _check_levels(level: Any, num_patients: int, num_doses: int | None) -> list[int]:
    """Integer dose levels, one per patient, within 1..num_doses (any level from 1 when ``num_doses`` is None)."""
    values = float_tuple(level, "level")
    if len(values) != num_patients:
        raise InputError("level", f"has {len(values)} entries but tox has {num_patients}: one per patient")
    top = num_doses if num_doses is not None else math.inf
    if num_doses is None or not set(values) <= set(map(float, range(1, num_doses + 1))):
        check_each(values, "level", lambda v: v.is_integer() and 1 <= v <= top,
                   lambda v: f"{v} is not a dose level in 1..{num_doses if num_doses is not None else 'K'}")
    return [int(v) for v in values]


def _used_weights(weights: Any, tox: list[int], tite: bool) -> tuple[float, ...] | None:
    """The weights dfcrm uses: 1 for every toxic patient (Cheung & Chappell 2000); None means all 1."""
    if weights is None:
        return None
    require(tite, "weights", "follow-up weights belong to the TITE-CRM: pass tite=True")
    values = float_tuple(weights, "weights")
    if len(values) != len(tox):
        raise InputError("weights", f"has {len(values)} entries but tox has {len(tox)}")
    check_each(values, "weights", lambda w: 0.0 <= w <= 1.0, lambda w: f"{w} is not between 0 and 1")
    return tuple(1.0 if y else w for y, w in zip(tox, values))


def _check_options(target: float, scale: float, method: str, conf_level: float, model: str, tite: bool) -> None:
    check_target(target)
    check_scale(scale)
    if method not in METHODS:
        raise InputError("method", f"{method!r} is not one of {', '.join(METHODS)}")
    if not (_is_number(conf_level) and 0.0 < conf_level < 1.0):
        raise InputError("conf_level", f"{conf_level!r} is not strictly between 0 and 1")
    require(not (tite and model == LOGISTIC and method == "mle"), "method",
            "dfcrm's titecrm cannot fit the logistic model by maximum likelihood (R stops with an error); "
            "use method 'bayes' or the empiric model")


def crm(prior: Any, target: float, tox: Any, level: Any, *, model: str = EMPIRIC, intcpt: float = 3.0,
        scale: float = DEFAULT_SCALE, method: str = "bayes", conf_level: float = 0.9,
        weights: Any = None, tite: bool = False) -> CrmResult:
    """dfcrm's ``crm`` (``tite=False``) or ``titecrm`` (``tite=True``, with ``weights``; see :func:`tite_weights`).

    ``prior`` is the skeleton, ``tox`` the 0/1 toxicity of each patient and
    ``level`` their 1-based dose levels.  Raises :class:`InputError` naming the
    offending field for anything dfcrm would reject or silently misuse.
    """
    working = WorkingModel.calibrated(prior, model, intcpt)
    _check_options(target, scale, method, conf_level, model, tite)
    tox_values = _check_tox(tox)
    levels = _check_levels(level, len(tox_values), working.num_doses)
    used = _used_weights(weights, tox_values, tite)
    tallies = Tallies.of(tox_values, levels, used, working.num_doses)
    if method == "mle":
        require(0 < tallies.num_tox < len(tox_values), "tox",
                "the MLE does not exist unless some but not all patients had a toxicity (dfcrm stops)")
    return fit_tallies(working, target, tallies, scale=scale, method=method, conf_level=conf_level, tite=tite,
                       weights=used if used is not None else (1.0,) * len(tox_values))


def fit_tallies(working: WorkingModel, target: float, tallies: Tallies, *, scale: float = DEFAULT_SCALE,
                method: str = "bayes", conf_level: float = 0.9, tite: bool = False,
                weights: tuple[float, ...] = ()) -> CrmResult:
    """:func:`crm`'s fit of data already checked, given by its sufficient statistics.

    For callers that validate once and fit many times (a design stage, a
    simulator): the same numbers as :func:`crm`, without its per-call input
    checks.  ``method = "mle"`` needs some but not all patients toxic.
    """
    if method == "bayes":
        mean, var = posterior_mean_var(working, scale, tallies.tox, tallies.nontox, tallies)
        estimate, post_var = float(mean), float(var)
    else:
        estimate, post_var = _mle(working, tallies, tite)
    return _result(working, target, estimate, post_var, scale, conf_level, weights)


def bayes_fits(working: WorkingModel, target: float, tox: np.ndarray, nontox: np.ndarray, *,
               scale: float = DEFAULT_SCALE, conf_level: float = 0.9) -> list[CrmResult]:
    """:func:`fit_tallies` by posterior mean, every weight 1, for many trials at once.

    Row ``i`` of ``tox``/``nontox`` holds trial ``i``'s toxicities and
    non-toxic patients per dose (at least one patient).  One batched
    integration (:func:`posterior_mean_var`) serves every trial, and each
    result is the same bit for bit as the trial's fit alone.
    """
    means, variances = posterior_mean_var(working, scale, tox, nontox)
    patients = (np.sum(tox, axis=1) + np.sum(nontox, axis=1)).astype(int).tolist()
    return [_result(working, target, estimate, post_var, scale, conf_level, _unit_weights(n))
            for estimate, post_var, n in zip(means.tolist(), variances.tolist(), patients)]


@lru_cache(maxsize=None)
def _unit_weights(patients: int) -> tuple[float, ...]:
    """Weight 1 for each of ``patients`` (one shared tuple per sample size: every fit of a simulation holds one)."""
    return (1.0,) * patients


def _result(working: WorkingModel, target: float, estimate: float, post_var: float, scale: float,
            conf_level: float, weights: tuple[float, ...]) -> CrmResult:
    """dfcrm's answer around the estimate and variance of β."""
    ptox = working.prob(estimate)
    return CrmResult(
        mtd=select_mtd(ptox, target), estimate=estimate, post_var=post_var, prior_var=float(scale) ** 2,
        ptox=ptox, conf_level=conf_level, model=working, weights=weights,
    )


def tite_weights(followup: Any, obswin: float, tox: Any, level: Any, *, scheme: str = "linear") -> tuple[float, ...]:
    """TITE-CRM weights from follow-up times (Cheung & Chappell 2000), as dfcrm's ``titecrm`` computes them.

    ``linear``: ``followup / obswin``.  ``adaptive``: with the toxic patients'
    follow-up times sorted, ``s_1 ≤ … ≤ s_z`` (``s_0 = 0``, ``s_{z+1} = obswin``),
    a patient followed for ``u`` with ``m`` toxicity times at or below ``u`` gets
    ``(m + (u - s_m) / (s_{m+1} - s_m)) / (z + 1)``: the share of observed
    toxicities that occurred by ``u``, interpolated (linear when no patient
    had a toxicity).  Both are capped at 1; toxic patients then get weight 1.
    """
    require(scheme in SCHEMES, "scheme", f"{scheme!r} is not one of {', '.join(SCHEMES)}")
    require(_is_number(obswin) and math.isfinite(obswin) and obswin > 0, "obswin",
            f"{obswin!r} is not a positive number (the observation window)")
    times = float_tuple(followup, "followup")
    tox_values = _check_tox(tox)
    _check_levels(level, len(tox_values), None)
    require(len(times) == len(tox_values), "followup", f"has {len(times)} entries but tox has {len(tox_values)}")
    u = np.asarray(times)
    support = np.sort(u[np.asarray(tox_values, dtype=bool)])
    with np.errstate(divide="ignore", invalid="ignore"):
        if scheme == "linear" or not len(support):
            raw = u / obswin
        else:
            knots = np.concatenate([[0.0], support, [obswin]])
            m = np.searchsorted(support, u, side="right")
            raw = (m + (u - knots[m]) / (knots[m + 1] - knots[m])) / (len(support) + 1)
    weights = np.minimum(raw, 1.0).tolist()
    check_each(weights, "followup", lambda w: 0.0 <= w <= 1.0,
               lambda w: f"gives weight {w} (dfcrm needs weights in [0, 1]; check follow-up times and obswin)")
    return tuple(1.0 if y else w for y, w in zip(tox_values, weights))
