"""Quantiles of the toxicity probability by inverting an exceedance curve on a grid.

escalation's beta-binomial selectors (``boin``, ``tpi``, ``mtpi``, ``mtpi2``)
have no closed-form quantile of their PAVA-smoothed posteriors, so
``prob_tox_quantile`` inverts ``prob_tox_exceeds`` on the 101 candidates
q = 0, 0.01, …, 1 (R's ``seq(0, 1, length.out = 101)``, i.e. the IEEE
products ``i * 0.01``): for each dose it returns the candidate minimising
|(1 − Pr(p > q)) − p|, the smallest q on ties; doses without an estimate get
``None``.  Decisions compare these grid values exactly, so the arithmetic is
R's: ``abs((1 - exceeds) - p)``.
"""

from __future__ import annotations

from typing import Callable, Sequence

#: The candidate quantiles, as R's ``seq(0, 1, length.out = 101)``.
GRID: tuple[float, ...] = tuple(i * 0.01 for i in range(101))

ExceedanceRow = Sequence[float | None]


def exceedance_table(prob_tox_exceeds: Callable[[float], ExceedanceRow]) -> tuple[ExceedanceRow, ...]:
    """``prob_tox_exceeds(q)`` for every q of :data:`GRID`, one row per q (a fit caches this)."""
    return tuple(prob_tox_exceeds(q) for q in GRID)


def grid_quantile(table: Sequence[ExceedanceRow], p: float) -> tuple[float | None, ...]:
    """Per dose, the grid value whose exceedance is closest to 1 − p (first on ties).

    ``table[i][d]`` is Pr(p_d > GRID[i]) (see :func:`exceedance_table`); a
    dose whose exceedance is ``None`` has no quantile.
    """
    num_doses = len(table[0])
    quantiles: list[float | None] = []
    for dose in range(num_doses):
        if table[0][dose] is None:
            quantiles.append(None)
            continue
        distances = [abs((1.0 - row[dose]) - p) for row in table]  # type: ignore[operator]
        quantiles.append(GRID[distances.index(min(distances))])
    return tuple(quantiles)
