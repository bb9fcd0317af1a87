"""Isotonic (non-decreasing) regression by the pool-adjacent-violators algorithm.

escalation and BOIN pool *the first adjacent violating pair* of level sets,
repeatedly, until none violates (Barlow et al. 1972, ch. 1).  A pooled value
is ``sum(x * w) / sum(w)`` over the pooled elements, where R's ``sum``
accumulates in x87 extended precision.  Decisions compare estimates exactly
(ties are broken by dose order), so that arithmetic is reproduced here with
``numpy.longdouble`` rather than using the block-merging variant of
``scipy.optimize.isotonic_regression``, whose last-bit results differ.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def r_sum(values: Sequence[float]) -> float:
    """R's ``sum`` of doubles: sequential accumulation in long double, rounded once."""
    total = np.longdouble(0.0)
    for v in values:
        total += np.longdouble(v)
    return float(total)


def pava(values: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """Non-decreasing weighted least-squares fit to ``values`` (weights default to 1)."""
    x = [float(v) for v in values]
    n = len(x)
    if n <= 1:
        return x
    w = [1.0] * n if weights is None else [float(v) for v in weights]
    level = list(range(n))
    while True:
        first = next((i for i in range(n - 1) if x[i + 1] - x[i] < 0), None)
        if first is None:
            return x
        low, high = level[first], level[first + 1]
        members = [j for j in range(n) if level[j] in (low, high)]
        pooled = r_sum([x[j] * w[j] for j in members]) / r_sum([w[j] for j in members])
        for j in members:
            x[j] = pooled
            level[j] = low
