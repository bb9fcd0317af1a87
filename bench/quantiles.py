"""Latency percentiles: one definition for every benchmark."""

from __future__ import annotations

import math
from typing import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-quantile of ``values`` by nearest rank (the smallest observed value with at least a fraction
    ``q`` of the values at or below it, as latency percentiles are reported); NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(1, min(len(ordered), math.ceil(q * len(ordered)))) - 1]
