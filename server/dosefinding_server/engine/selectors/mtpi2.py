"""mTPI-2 (Guo, Wang, Yang, Lynn & Ji 2017): mTPI with Ockham's razor.

mTPI-2 keeps mTPI's equivalence interval ``[target - epsilon1, target + epsilon2]``
but cuts the under- and over-dosing regions into sub-intervals of the same
width, ``epsilon1 + epsilon2`` (the last one truncated at 0 or 1), so that the
UPM comparison no longer favours wide intervals (Guo et al. 2017, section 2.2).
The decision follows the interval with the highest UPM; ties go to escalation,
then staying.  The sub-intervals are built exactly as escalation builds them
(R's ``seq`` with its 1e-10 fuzz), since a boundary shifted by one ulp can
change a decision.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

from ..numerics import beta_binomial as bb
from ..registry import register
from .mtpi import EpsilonIntervalSelector
from .tpi import Regions


def r_seq(start: float, stop: float, step: float) -> list[float]:
    """R's ``seq(from = start, to = stop, by = step)`` for a step of the right sign."""
    span = stop - start
    if span == 0 and stop == 0:
        return [stop]
    if abs(span) / max(abs(stop), abs(start)) < 100 * sys.float_info.epsilon:
        return [start]
    count = int(span / step + 1e-10)
    points = [start + k * step for k in range(count + 1)]
    return [min(x, stop) for x in points] if step > 0 else [max(x, stop) for x in points]


def _upm(bounds: list[tuple[float, float]], a: float, b: float) -> tuple[float, ...]:
    """The UPM of each non-empty interval (low, high) under Beta(a, b)."""
    return tuple((bb.cdf(high, a, b) - bb.cdf(low, a, b)) / (high - low)
                 for low, high in bounds if high - low != 0)


@register
@dataclass(frozen=True, kw_only=True)
class Mtpi2Selector(EpsilonIntervalSelector):
    """mTPI-2: equal-width sub-intervals either side of the equivalence interval, scored by UPM."""

    kind: ClassVar[str] = "mtpi2"
    title: ClassVar[str] = "mTPI-2"

    def regions(self, a: float, b: float) -> Regions:
        lower, upper = self.equivalence()
        width = self.epsilon1 + self.epsilon2
        below = [(max(high - width, 0.0), high) for high in r_seq(lower, 0.0, -width)]
        above = [(low, min(low + width, 1.0)) for low in r_seq(upper, 1.0, width)]
        stay = (bb.cdf(upper, a, b) - bb.cdf(lower, a, b)) / (upper - lower)
        return Regions(_upm(below, a, b), stay, _upm(above, a, b), lower, upper)
