"""select_mtpi_mtd: choose the MTD by mTPI's rule (Ji, Liu, Li & Bekele 2010, section 2.3).

As TPI's rule (:mod:`.select_tpi_mtd`): the admissible dose whose isotonic
posterior mean is closest to the target.  mTPI breaks ties in favour of the
doses at or below the target (estimate - target == -distance, exactly as
escalation compares it, so doses *at* the target count), taking the highest
of those.  When every tied dose lies above the target, escalation returns
``-Inf`` (``max`` of no dose; such cases are not in the reference data);
here the lowest tied dose is taken, the safe choice the rule implies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fit import ProbVector
from ..registry import register
from .select_tpi_mtd import MtdSelection


@register
@dataclass(frozen=True, kw_only=True)
class SelectMtpiMtd(MtdSelection):
    """mTPI's MTD rule (Ji et al. 2010)."""

    kind: ClassVar[str] = "select_mtpi_mtd"
    title: ClassVar[str] = "mTPI"

    def break_tie(self, tied: list[int], means: ProbVector, target: float) -> int:
        """The highest tied dose at or below the target; the lowest tied dose when all are above."""
        distance = abs(means[tied[0] - 1] - target)  # type: ignore[operator]
        below = [d for d in tied if means[d - 1] - target == -distance]  # type: ignore[operator]
        return below[-1] if below else tied[0]
