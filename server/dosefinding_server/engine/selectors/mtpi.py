"""mTPI, the modified toxicity probability interval design (Ji, Liu, Li & Bekele 2010).

mTPI fixes the equivalence interval at ``(target - epsilon1, target + epsilon2)``
and scores each of the three regions by its *unit probability mass* (UPM):
the posterior probability of the region divided by its width (Ji et al. 2010,
section 2.2, equation (2)).  Everything else (model, exclusion, stopping,
estimates) is TPI's (:mod:`.tpi`).  A preceding ``follow_path`` decides while
it continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..numerics import beta_binomial as bb
from ..registry import register
from ..selector import require
from .tpi import IntervalSelector, Regions


@dataclass(frozen=True, kw_only=True)
class EpsilonIntervalSelector(IntervalSelector):
    """An interval design whose equivalence interval is (target - epsilon1, target + epsilon2)."""

    accepts_path: ClassVar[bool] = True
    score_name: ClassVar[str] = "UPM"

    epsilon1: float
    epsilon2: float

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.epsilon1 > 0, "epsilon1", f"{self.epsilon1} is not positive")
        require(self.epsilon2 > 0, "epsilon2", f"{self.epsilon2} is not positive")

    def equivalence(self) -> tuple[float, float]:
        """The equivalence interval, clipped to [0, 1]."""
        return max(self.target - self.epsilon1, 0.0), min(self.target + self.epsilon2, 1.0)


@register
@dataclass(frozen=True, kw_only=True)
class MtpiSelector(EpsilonIntervalSelector):
    """mTPI: three regions, [0, pT - e1), [pT - e1, pT + e2], (pT + e2, 1], scored by UPM."""

    kind: ClassVar[str] = "mtpi"
    title: ClassVar[str] = "mTPI"

    def __post_init__(self) -> None:
        """mTPI divides by the width of every region, so none may be empty."""
        super().__post_init__()
        require(self.epsilon1 < self.target, "epsilon1",
                f"{self.epsilon1} leaves no under-dosing interval below target {self.target}")
        require(self.target + self.epsilon2 < 1, "epsilon2",
                f"{self.epsilon2} leaves no over-dosing interval above target {self.target}")

    def regions(self, a: float, b: float) -> Regions:
        lower, upper = self.equivalence()
        under = bb.cdf(lower, a, b)
        stay = bb.cdf(upper, a, b) - under
        over = 1 - under - stay
        return Regions((under / lower,), stay / (upper - lower), (over / (1 - upper),), lower, upper)
