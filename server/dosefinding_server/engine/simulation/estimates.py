"""Monte Carlo estimates with their standard errors.

Simulated trials are independent draws, so a mean over N trials has
standard error ``s/√N`` (``s`` the sample standard deviation, N − 1 in its
denominator) and a proportion ``√(p(1 − p)/N)``.  A quantity pooled over
trials, such as the share of all patients treated at a dose (escalation's
``prob_administer``), is a ratio of two means; its standard error is the
delta-method (linearisation) one of a ratio estimator, ``√(Σ(x_i − r·m_i)² /
(N(N − 1))) / m̄`` (Cochran 1977, *Sampling Techniques*, section 6.3).  The
standard deviation of a sample has the large-sample standard error
``√((m₄ − s⁴) / (4 s² N))`` (m₄ the fourth central moment), which holds for
any distribution with a fourth moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error."""

    value: float
    mc_se: float

    def scaled(self, factor: float) -> "Estimate":
        """The same estimate in other units (e.g. percent)."""
        return Estimate(self.value * factor, self.mc_se * factor)


def mean(values: np.ndarray) -> Estimate:
    """The mean of one value per trial."""
    return column_means(np.asarray(values, dtype=float)[:, None])[0]


def column_means(values: np.ndarray) -> list[Estimate]:
    """The mean of each column of a trials × k matrix (each column summed contiguously: pairwise, so both
    faster and more accurate than adding the matrix row by row)."""
    columns = np.array(np.asarray(values).T, dtype=float, order="C")
    n = columns.shape[1]
    sd = columns.std(axis=1, ddof=1) if n > 1 else np.zeros(len(columns))
    return [Estimate(float(v), float(s) / math.sqrt(n)) for v, s in zip(columns.mean(axis=1), sd)]


def proportion(hits: np.ndarray) -> Estimate:
    """The share of trials for which ``hits`` holds, with its binomial standard error."""
    n = len(hits)
    p = float(np.count_nonzero(hits)) / n
    return Estimate(p, math.sqrt(p * (1.0 - p) / n))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
    """Σ numerator / Σ denominator over trials, with the ratio estimator's standard error (nan if Σ denominator = 0)."""
    x, m = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    n, total = len(x), float(m.sum())
    if total == 0:
        return Estimate(math.nan, math.nan)
    r = float(x.sum()) / total
    spread = float(np.sum((x - r * m) ** 2)) / (n * (n - 1)) if n > 1 else 0.0
    return Estimate(r, math.sqrt(spread) / (total / n))


def standard_deviation(values: np.ndarray) -> Estimate:
    """The sample standard deviation and its large-sample standard error."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return Estimate(0.0, 0.0)
    sd = float(x.std(ddof=1))
    fourth = float(np.mean((x - x.mean()) ** 4))
    se = math.sqrt(max(fourth - sd**4, 0.0) / (4.0 * sd**2 * n)) if sd > 0 else 0.0
    return Estimate(sd, se)
