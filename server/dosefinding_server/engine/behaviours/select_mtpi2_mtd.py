"""select_mtpi2_mtd: choose the MTD by mTPI-2's rule (Guo, Wang, Yang, Lynn & Ji 2017).

mTPI-2 selects its MTD exactly as TPI does (Ji et al. 2007, section 2.3):
the admissible dose whose isotonic posterior mean is closest to the target,
ties going to the highest tied dose when the tied estimates average below
the target and to the lowest otherwise.  Everything is shared with
:mod:`.select_tpi_mtd`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..registry import register
from .select_tpi_mtd import MtdSelection


@register
@dataclass(frozen=True, kw_only=True)
class SelectMtpi2Mtd(MtdSelection):
    """mTPI-2's MTD rule (Guo et al. 2017), which is TPI's."""

    kind: ClassVar[str] = "select_mtpi2_mtd"
    title: ClassVar[str] = "mTPI-2"
