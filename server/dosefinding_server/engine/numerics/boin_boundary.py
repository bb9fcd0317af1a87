"""BOIN's dose escalation, de-escalation and elimination boundaries.

Liu & Yuan (2015, JRSS C 64:507) choose the interval boundaries that minimise
the probability of a wrong escalation decision between the three hypotheses
p = φ₁ (sub-therapeutic, ``p_saf``), p = φ (the target) and p = φ₂ (overly
toxic, ``p_tox``), with equal prior weights (their local optimal design):

    λe = log((1 − φ₁)/(1 − φ)) / log(φ(1 − φ₁) / (φ₁(1 − φ)))
    λd = log((1 − φ)/(1 − φ₂)) / log(φ₂(1 − φ) / (φ(1 − φ₂)))

With n patients at the current dose, escalate when the observed rate
y/n ≤ λe, i.e. y ≤ ⌊λe·n⌋, and de-escalate when y/n ≥ λd, i.e. y ≥ ⌈λd·n⌉.
The safety rule of Liu & Yuan (overdose control) eliminates a dose (and all
higher ones) once n ≥ 3 and Pr(p > φ | y, n) > ``cutoff_eli`` under a
Beta(1, 1) prior; the de-escalation boundary is capped at the elimination
boundary.  BOIN's optional extra-safe rule stops the trial when the lowest
dose satisfies the same condition with the looser cutoff ``cutoff_eli −
offset``.

Every number is computed with the operations, and in the order, of
``BOIN::get.boundary`` 2.7.2, so that the integer boundaries agree with R's
even when λ·n falls within rounding error of an integer.  The de-escalation
boundary is ``ceil(λd·n)``, except that when λd·n is a whole number (within
1e-12) de-escalation needs one more toxicity, ``round(λd·n) + 1``
(FORMAT.md 4.3, the convention of R's output).  Boundaries for one n depend only on (φ, φ₁, φ₂,
cutoff), so :func:`boundary_at` caches them per n; a whole table is assembled
from those rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import betainc

from ..selector import require

#: BOIN's limits on the target toxicity probability (``get.boundary`` refuses others).
MIN_TARGET = 0.05
MAX_TARGET = 0.6
#: BOIN eliminates or stops only once this many patients have been treated at a dose.
MIN_PATIENTS_TO_ELIMINATE = 3


@dataclass(frozen=True, slots=True)
class BoundaryRow:
    """The decisions for n patients at the current dose (one column of R's table)."""

    n: int
    escalate_if_le: int
    deescalate_if_ge: int
    eliminate_if_ge: int | None


@dataclass(frozen=True, slots=True)
class StopRow:
    """The extra-safe stopping boundary for n patients at the lowest dose."""

    n: int
    stop_if_ge: int | None


@dataclass(frozen=True, slots=True)
class BoinBoundaries:
    """``BOIN::get.boundary``'s result.

    ``rows`` covers n = 1 … min(ncohort·cohortsize, n_earlystop) (R's
    ``full_boundary_tab``); ``boundary_tab_n`` lists the n that R's
    ``boundary_tab`` shows (multiples of the cohort size).  ``cutoff`` and
    ``stop_rows`` are present only with ``extrasafe``.
    """

    lambda_e: float
    lambda_d: float
    rows: tuple[BoundaryRow, ...]
    boundary_tab_n: tuple[int, ...]
    cutoff: float | None = None
    stop_rows: tuple[StopRow, ...] | None = None


@dataclass(frozen=True, slots=True)
class BoinSettings:
    """The validated interval settings of a BOIN design (R's defaults filled in)."""

    target: float
    p_saf: float
    p_tox: float
    cutoff_eli: float
    offset: float


@lru_cache(maxsize=1024)
def boin_settings(
    target: float,
    p_saf: float | None = None,
    p_tox: float | None = None,
    cutoff_eli: float = 0.95,
    offset: float = 0.05,
) -> BoinSettings:
    """Validate BOIN's settings as ``get.boundary`` does, filling R's defaults.

    R's defaults are φ₁ = 0.6·φ and φ₂ = 1.4·φ; BOIN refuses a target outside
    [0.05, 0.6], a φ₁ or φ₂ within 10% of the target (or on its wrong side)
    and an offset of 0.5 or more.  Valid settings are cached, so a design may
    ask for them at every decision.
    """
    require(MIN_TARGET <= target <= MAX_TARGET, "target",
            f"{target} is outside BOIN's range [{MIN_TARGET}, {MAX_TARGET}]")
    p_saf = 0.6 * target if p_saf is None else p_saf
    p_tox = 1.4 * target if p_tox is None else p_tox
    require(0.0 < p_saf and (target - p_saf) >= 0.1 * target, "p_saf",
            f"{p_saf} must be positive and below the target {target} by at least 10% of it")
    require(p_tox < 1.0 and (p_tox - target) >= 0.1 * target, "p_tox",
            f"{p_tox} must be below 1 and above the target {target} by at least 10% of it")
    require(0.0 < cutoff_eli < 1.0, "cutoff_eli", f"{cutoff_eli} is not strictly between 0 and 1")
    require(0.0 <= offset < 0.5, "offset", f"{offset} is outside [0, 0.5)")
    require(cutoff_eli - offset > 0.0, "offset",
            f"cutoff_eli - offset = {cutoff_eli - offset} must be positive")
    return BoinSettings(target, p_saf, p_tox, cutoff_eli, offset)


def escalation_boundary(target: float, p_saf: float) -> float:
    """Liu & Yuan's (2015) escalation boundary λe, evaluated in R's operation order."""
    return math.log((1 - p_saf) / (1 - target)) / math.log(target * (1 - p_saf) / (p_saf * (1 - target)))


def deescalation_boundary(target: float, p_tox: float) -> float:
    """Liu & Yuan's (2015) de-escalation boundary λd, evaluated in R's operation order."""
    return math.log((1 - target) / (1 - p_tox)) / math.log(p_tox * (1 - target) / (target * (1 - p_tox)))


@lru_cache(maxsize=4096)
def interval_boundaries(target: float, p_saf: float, p_tox: float) -> tuple[float, float]:
    """(λe, λd) for the target and the sub-therapeutic and overly toxic rates (cached)."""
    return escalation_boundary(target, p_saf), deescalation_boundary(target, p_tox)


def posterior_exceeds(target: float, tox: int, n: int) -> float:
    """Pr(p > target | tox of n) under a Beta(1, 1) prior, as R's ``1 - pbeta(target, y+1, n-y+1)``."""
    return 1.0 - float(betainc(tox + 1, n - tox + 1, target))


def too_toxic(target: float, tox: int, n: int, cutoff: float) -> bool:
    """Liu & Yuan's safety rule for one dose: n ≥ 3 and Pr(p > target | tox of n) > ``cutoff``."""
    return n >= MIN_PATIENTS_TO_ELIMINATE and posterior_exceeds(target, tox, n) > cutoff


@lru_cache(maxsize=65536)
def safety_boundary(target: float, n: int, cutoff: float) -> int | None:
    """The fewest toxicities m ≥ 1 among n patients with Pr(p > target | m, n) > cutoff.

    ``None`` when n < 3 (BOIN never eliminates or stops on fewer patients) or
    when no count qualifies.  This is the elimination boundary with
    ``cutoff_eli`` and the extra-safe stopping boundary with ``cutoff_eli −
    offset``.
    """
    if n < MIN_PATIENTS_TO_ELIMINATE:
        return None
    m = np.arange(1, n + 1)
    exceeds = 1.0 - betainc(m + 1, n - m + 1, target)
    hits = np.flatnonzero(exceeds > cutoff)
    return int(hits[0]) + 1 if hits.size else None


WHOLE_NUMBER_TOLERANCE = 1e-12


def deescalation_count(product: float) -> int:
    """Toxicities that de-escalate: ``ceil(λd·n)``, or one more when λd·n is a whole number."""
    nearest = round(product)
    if abs(product - nearest) <= WHOLE_NUMBER_TOLERANCE:
        return nearest + 1
    return math.ceil(product)


@lru_cache(maxsize=65536)
def boundary_at(n: int, target: float, p_saf: float, p_tox: float, cutoff_eli: float) -> BoundaryRow:
    """The escalation, de-escalation and elimination boundaries for n patients at a dose.

    Arguments are validated settings (see :func:`boin_settings`); the result
    is cached, so a design asks for it at every decision at no cost.
    """
    lambda_e, lambda_d = interval_boundaries(target, p_saf, p_tox)
    eliminate = safety_boundary(target, n, cutoff_eli)
    deescalate = deescalation_count(lambda_d * n)
    if eliminate is not None and deescalate > eliminate:
        deescalate = eliminate
    return BoundaryRow(n, math.floor(lambda_e * n), deescalate, eliminate)


def get_boundary(
    target: float,
    ncohort: int,
    cohortsize: int,
    *,
    n_earlystop: int = 100,
    p_saf: float | None = None,
    p_tox: float | None = None,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
) -> BoinBoundaries:
    """BOIN's boundary tables for a trial of ``ncohort`` cohorts of ``cohortsize``.

    Refuses the inputs on which R's ``get.boundary`` fails: those of
    :func:`boin_settings`, a table of a single column (min(ncohort·cohortsize,
    n_earlystop) = 1) and an ``n_earlystop`` below the cohort size.
    """
    settings = boin_settings(target, p_saf, p_tox, cutoff_eli, offset)
    require(ncohort >= 1, "ncohort", f"{ncohort} is not 1 or more")
    require(cohortsize >= 1, "cohortsize", f"{cohortsize} is not 1 or more")
    require(n_earlystop >= 2, "n_earlystop", f"{n_earlystop}: BOIN's table needs at least 2 patients")
    require(ncohort * cohortsize >= 2, "ncohort",
            f"{ncohort} cohort(s) of {cohortsize}: BOIN's table needs at least 2 patients")
    last = min(ncohort * cohortsize, n_earlystop)
    require(last >= cohortsize, "n_earlystop",
            f"{n_earlystop} is below the cohort size {cohortsize}")
    lambda_e, lambda_d = interval_boundaries(settings.target, settings.p_saf, settings.p_tox)
    rows = tuple(
        boundary_at(n, settings.target, settings.p_saf, settings.p_tox, settings.cutoff_eli)
        for n in range(1, last + 1)
    )
    tab_n = tuple(cohortsize * k for k in range(1, last // cohortsize + 1))
    if not extrasafe:
        return BoinBoundaries(lambda_e, lambda_d, rows, tab_n)
    cutoff = settings.cutoff_eli - settings.offset
    stop_rows = tuple(StopRow(n, safety_boundary(settings.target, n, cutoff)) for n in range(1, last + 1))
    return BoinBoundaries(lambda_e, lambda_d, rows, tab_n, cutoff, stop_rows)

