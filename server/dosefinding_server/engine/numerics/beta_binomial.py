"""The beta-binomial model shared by the interval designs (TPI, mTPI, mTPI-2) and their MTD rules.

Each dose's toxicity probability has a Beta(alpha, beta) prior; after ``y``
toxicities in ``n`` patients its posterior is Beta(alpha + y, beta + n - y)
(Ji et al. 2007, section 2; Ji et al. 2010, section 2.1).  Escalation's
interval designs summarise these posteriors in three ways, reproduced here
with R's order of arithmetic because decisions compare them exactly:

* isotonic posterior means, PAVA-weighted by the inverse posterior variance
  (Ji et al. 2007, section 2.3: the MTD is chosen from isotonically
  transformed posterior means);
* isotonic posterior probabilities of exceeding a threshold, PAVA-smoothed
  (unweighted) over the tested doses, untested doses undefined;
* the dose-exclusion rule: a dose with at least two patients whose
  probability of exceeding the target is at least ``xi`` is excluded with
  every dose above it (Ji et al. 2007, section 2.2).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import special

from .pava import pava


def posterior(alpha: float, beta: float, n: int, tox: int) -> tuple[float, float]:
    """The shape parameters of the Beta posterior after ``tox`` toxicities in ``n`` patients."""
    return alpha + tox, beta + n - tox


def cdf(x: float, a: float, b: float) -> float:
    """P(p <= x) for p ~ Beta(a, b) (R's ``pbeta``)."""
    return float(special.betainc(a, b, x))


def upper_tail(x: float, a: float, b: float) -> float:
    """P(p > x) for p ~ Beta(a, b), computed directly (R's ``pbeta(lower.tail = FALSE)``)."""
    return float(special.betaincc(a, b, x))


def quantile(p: float, a: float, b: float) -> float:
    """The ``p`` quantile of Beta(a, b) (R's ``qbeta``)."""
    return float(special.betaincinv(a, b, p))


def posterior_sd(a: float, b: float) -> float:
    """The standard deviation of Beta(a, b), sigma_i of Ji et al. (2007), equation (1)."""
    return float(np.sqrt((a * b) / ((a + b) ** 2 * (a + b + 1))))


def pava_means(alpha: float, beta: float, n: Sequence[int], tox: Sequence[int],
               tested_only: bool = False) -> tuple[float | None, ...]:
    """Isotonic posterior means, weighted by inverse posterior variance.

    Over every dose (untested doses enter with their prior mean), or over the
    tested doses only with the others undefined (``tested_only``, which
    escalation ignores until some dose is tested).
    """
    doses = [i for i, m in enumerate(n) if m > 0 or not tested_only or not any(n)]
    means, weights = [], []
    for i in doses:
        total = alpha + beta + n[i]
        means.append((alpha + tox[i]) / total)
        weights.append(1.0 / ((alpha + tox[i]) * (beta + n[i] - tox[i]) / (total ** 2 * (total + 1))))
    return _scatter(len(n), doses, pava(means, weights) if doses else [])


def pava_exceeds(alpha: float, beta: float, n: Sequence[int], tox: Sequence[int],
                 threshold: float) -> tuple[float | None, ...]:
    """P(p_d > threshold) under each tested dose's posterior, PAVA-smoothed; untested doses undefined."""
    return pava_exceeds_grid(alpha, beta, n, tox, (threshold,))[0]


def pava_exceeds_grid(alpha: float, beta: float, n: Sequence[int], tox: Sequence[int],
                      thresholds: Sequence[float]) -> tuple[tuple[float | None, ...], ...]:
    """:func:`pava_exceeds` at each of ``thresholds`` (one row each), the Beta tails in one vectorised call."""
    doses = [i for i, m in enumerate(n) if m > 0]
    if not doses:
        return ((None,) * len(n),) * len(thresholds)
    a = np.array([alpha + tox[i] for i in doses])
    b = np.array([beta + n[i] - tox[i] for i in doses])
    table = special.betaincc(a, b, np.asarray(thresholds, dtype=float)[:, None])
    violated = np.any(np.diff(table, axis=1) < 0, axis=1)
    return tuple(_scatter(len(n), doses, pava(row) if bad else row.tolist())
                 for row, bad in zip(table, violated))


def excluded_above(n: Sequence[int], exceeds_target: Sequence[float | None],
                   certainty: float) -> tuple[bool, ...]:
    """Admissibility under the exclusion rule: the first dose with n >= 2 and
    P(p > target) >= certainty, and every dose above it, are inadmissible."""
    admissible: list[bool] = []
    for m, e in zip(n, exceeds_target):
        rejected = (admissible and not admissible[-1]) or (m >= 2 and e is not None and e >= certainty)
        admissible.append(not rejected)
    return tuple(admissible)


def r_mean(values: Sequence[float]) -> float:
    """R's ``mean`` of doubles: long-double sum, divided, then one refinement pass."""
    count = len(values)
    total = np.longdouble(0.0)
    for v in values:
        total += np.longdouble(v)
    mean = total / count
    if np.isfinite(mean):
        residual = np.longdouble(0.0)
        for v in values:
            residual += np.longdouble(v) - mean
        mean += residual / count
    return float(mean)


def memoised(compute: Callable[[float], tuple[float | None, ...]]) -> Callable[[float], tuple[float | None, ...]]:
    """Cache a per-threshold vector function for the life of one fit (quantile grids call it often)."""
    cache: dict[float, tuple[float | None, ...]] = {}

    def lookup(threshold: float) -> tuple[float | None, ...]:
        value = cache.get(threshold)
        if value is None:
            value = cache[threshold] = compute(threshold)
        return value

    return lookup


def _scatter(size: int, positions: Sequence[int], values: Sequence[float]) -> tuple[float | None, ...]:
    out: list[float | None] = [None] * size
    for i, v in zip(positions, values):
        out[i] = float(v)
    return tuple(out)
