"""Fixed composite Gauss–Legendre quadrature, vectorised over many integrands.

Why a fixed rule.  dfcrm integrates its CRM posterior with R's
``stats::integrate`` (QUADPACK, relative tolerance about 1.2e-4), so R's own
values are off by up to ~1e-4; the reference data (``validation/reference``,
FORMAT.md section 2) therefore stores, per case, a tolerance of
``max(1e-6, 2 |R - precise|)`` around R's value, where "precise" is the same
integral computed to ~1e-11.  A rule that reproduces the precise value to
~1e-8 passes every case.  A *fixed* rule does that, because every integrand
is smooth (an entire function of the parameter times a Gaussian prior) and
only its width varies:

* ``n``-point Gauss–Legendre is exact for polynomials of degree ``2n - 1``
  and converges geometrically for analytic integrands (Davis & Rabinowitz,
  *Methods of Numerical Integration*, 2nd ed., section 2.7).  Measured for a
  Gaussian of standard deviation σ at arbitrary offsets, 16 nodes per panel
  of width ``w`` give relative errors in the mass, mean and variance of
  4e-12 for ``w/σ = 6``, 1e-8 for ``w/σ = 8`` and 2e-6 for ``w/σ = 10``.
* :mod:`.dfcrm` uses panels of width 0.2 on ``[-10, 10]`` (1,600 nodes), so
  posteriors with σ ≥ 0.033 integrate to ~1e-12 and σ ≥ 0.025 to ~1e-8.  The
  posterior standard deviation of the CRM parameter falls to 0.035 only
  after about 300 patients (logistic model; ~1,000 for the empiric model).
  Against brute-force integration (2,000 panels), random trials of 30–300
  patients agree to 4e-13 in the posterior variance.  On the 1,100 dfcrm
  reference cases (at most 36 patients) the largest error is 0.50 of a
  case's tolerance: the score of an exact computation, since each tolerance
  is twice R's own error.
* Semi-infinite tails are mapped to ``(0, 1)`` by ``x = a ± s·t/(1 - t)``
  with ``s`` the prior's standard deviation, so that the Gaussian tail keeps
  the same shape whatever the scale; 16 nodes integrate it to ~1e-14.

The cost of the finer grid is negligible: the model's log-probabilities at
the nodes are tabulated once per skeleton, after which a posterior is a
sum of the per-dose counts times those tables.  A fixed rule is also
deterministic (no data-dependent subdivision: identical inputs give
bit-identical outputs) and vectorises: every function here takes integrand
values with any leading shape and integrates along the last axis, so a
simulator evaluates thousands of posteriors in one call, each exactly as it
would alone.  No adaptive routine is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: nodes per panel of the composite rules (see the module docstring for the accuracy)
DEFAULT_ORDER = 16
#: integrand values below exp(-60) times the largest are dropped: even 10^9 of them sum to
#: less than 1e-17 of it, below double-precision rounding
NEGLIGIBLE_LOG = 60.0


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


@lru_cache(maxsize=None)
def gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``order``-point Gauss–Legendre nodes (ascending) and weights on ``[-1, 1]``, computed once."""
    if order < 1:
        raise ValueError(f"a Gauss–Legendre rule needs at least one node, not {order}")
    nodes, weights = np.polynomial.legendre.leggauss(order)
    return _frozen(nodes), _frozen(weights)


@dataclass(frozen=True, eq=False)
class Rule:
    """A quadrature rule: ``∫ f(x) dx ≈ Σ weights[i] · f(nodes[i])`` (nodes ascending)."""

    nodes: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        _frozen(self.nodes)
        _frozen(self.weights)

    def __len__(self) -> int:
        return len(self.nodes)

    def integrate(self, values: np.ndarray) -> np.ndarray:
        """The integral of each integrand; ``values[..., i]`` is an integrand at ``nodes[i]``."""
        return np.asarray(values) @ self.weights


@lru_cache(maxsize=64)
def panels(breaks: tuple[float, ...], order: int = DEFAULT_ORDER) -> Rule:
    """``order``-point Gauss–Legendre on each panel ``[breaks[i], breaks[i + 1]]`` (breaks ascending)."""
    edges = np.asarray(breaks, dtype=float)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"panel breaks must ascend strictly: {breaks}")
    x, w = gauss_legendre(order)
    half = np.diff(edges)[:, None] / 2.0
    centre = (edges[:-1] + edges[1:])[:, None] / 2.0
    return Rule((centre + half * x).ravel(), (half * w).ravel())


def composite(lower: float, upper: float, count: int, order: int = DEFAULT_ORDER) -> Rule:
    """``order``-point Gauss–Legendre on each of ``count`` equal panels of ``[lower, upper]``."""
    if count < 1:
        raise ValueError(f"cannot split [{lower}, {upper}] into {count} panels")
    return panels(tuple(np.linspace(lower, upper, count + 1).tolist()), order)


def geometric(start: float, end: float, first: float, order: int = DEFAULT_ORDER) -> Rule:
    """Panels from ``start`` toward ``end`` whose widths double from ``first``: fine where an
    integrand decays exponentially away from ``start``, coarse where it is negligible or polynomial."""
    direction = 1.0 if end > start else -1.0
    offsets = [0.0]
    while offsets[-1] + first * 2 ** (len(offsets) - 1) < abs(end - start):
        offsets.append(offsets[-1] + first * 2 ** (len(offsets) - 1))
    offsets.append(abs(end - start))
    breaks = sorted(start + direction * offset for offset in offsets)
    return panels(tuple(breaks), order)


@lru_cache(maxsize=64)
def semi_infinite(start: float, direction: int, scale: float, order: int = DEFAULT_ORDER) -> Rule:
    """A rule for ``∫ f`` over ``[start, ∞)`` (``direction`` +1) or ``(-∞, start]`` (-1).

    Substitutes ``x = start + direction · scale · t / (1 - t)``, ``t ∈ (0, 1)``
    (QUADPACK's ``qagi`` map, stretched by ``scale`` so that a Gaussian tail of
    standard deviation ``scale`` looks the same for every scale), then applies
    ``order``-point Gauss–Legendre in ``t``; ``dx = scale / (1 - t)² dt``.
    """
    if direction not in (-1, 1) or not scale > 0:
        raise ValueError(f"bad semi-infinite rule: direction {direction}, scale {scale}")
    x, w = gauss_legendre(order)
    t = (x + 1.0) / 2.0
    nodes = start + direction * scale * t / (1.0 - t)
    weights = (w / 2.0) * scale / (1.0 - t) ** 2
    if direction < 0:
        nodes, weights = nodes[::-1], weights[::-1]
    return Rule(nodes.copy(), weights.copy())


def join(*rules: Rule) -> Rule:
    """The rule for the union of adjoining intervals, in the order given."""
    return Rule(np.concatenate([r.nodes for r in rules]), np.concatenate([r.weights for r in rules]))


def scaled_sums(log_values: np.ndarray, weights: np.ndarray, *, scratch: np.ndarray | None = None) -> np.ndarray:
    """Weighted sums ``Σ_i exp(log_values[..., i] - shift) · weights[j, i]`` with a per-integrand shift.

    ``log_values`` (shape ``(..., N)``) holds the logarithm of an integrand
    at the nodes; ``weights`` (``(J, N)``) holds J weight vectors on those
    nodes (zero outside a vector's range of integration, and possibly
    multiplied by a moment function such as ``x`` or ``x²``); the result has
    shape ``(..., J)``.  Each integrand is divided by its largest value before
    exponentiating, so likelihoods that underflow in double precision
    (hundreds of patients) still integrate; the common factor cancels from
    every ratio of the returned sums, which is all a posterior moment needs.
    Nodes more than :data:`NEGLIGIBLE_LOG` below the largest value are
    skipped: a concentrated posterior lives on a few of the nodes, and the
    skipped terms are below the rounding error of the sum.  With ``scratch``
    (a float64 array of ``log_values``' shape) no array is allocated:
    ``log_values`` (float64) is shifted in place and the exponentials go to
    ``scratch``, so a batch summed block by block reuses both.

    An integrand's sums depend on its own values only, bit for bit, whatever
    else shares the call: every step is element-wise or runs along one
    integrand, the last by ``numpy.einsum``'s own loops (not BLAS, whose
    kernels may round differently with the shape of the batch).
    """
    if scratch is None:
        shifted = np.asarray(log_values, dtype=float) - np.max(log_values, axis=-1, keepdims=True)
        scaled = np.zeros_like(shifted)
    else:
        shifted = np.subtract(log_values, np.max(log_values, axis=-1, keepdims=True), out=log_values)
        scaled = scratch
        scaled.fill(0.0)
    np.exp(shifted, out=scaled, where=shifted > -NEGLIGIBLE_LOG)
    return np.einsum("...n,jn->...j", scaled, weights)
