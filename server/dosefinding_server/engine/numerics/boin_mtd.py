"""BOIN's selection of the maximum tolerated dose at the end of a single-agent trial.

Liu & Yuan (2015, MTD selection): estimate each tested dose's toxicity
probability, make the estimates non-decreasing by isotonic regression (PAVA
weighted by the inverse posterior variance) and select the admissible dose
whose estimate is closest to the target.  BOIN's estimates use a Beta(0.05,
0.05) prior: a dose with y toxicities among n patients has posterior Beta(y
+ 0.05, n − y + 0.05), mean (y + 0.05)/(n + 0.1).  A dose is admissible when
it was tested and not eliminated by their safety rule (n ≥ 3 and
Pr(p > φ | y, n) > ``cutoff_eli`` under a Beta(1, 1) prior eliminates the
dose and every higher one); with ``extrasafe`` the lowest dose is also
judged against ``cutoff_eli − offset``, and if it fails no dose is selected.
Ties in the isotonic estimates are broken towards the higher dose by adding
i·1e-10 to the i-th admissible estimate, as ``BOIN::select.mtd`` does; with
``bound_mtd`` only doses whose estimate is below the de-escalation boundary
λd qualify.

The per-dose summaries (``phat``, the 95% credible interval, Pr(p > φ)) are
isotonic over the tested doses.  ``BOIN::select.mtd`` 2.7.2 prints the
interval of the k-th *tested* dose against the k-th dose level, which is wrong
whenever an untested dose lies below a tested one; here every interval
belongs to its own dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from scipy.special import betainc, betaincinv

from ..selector import require, require_probability
from .boin_boundary import deescalation_boundary, too_toxic
from .pava import pava

#: BOIN's Beta(0.05, 0.05) prior for the toxicity estimates.
PRIOR = 0.05
#: The tie-breaker added per admissible dose (i·1e-10 for the i-th).
TIE_BREAK = 1e-10


@dataclass(frozen=True, slots=True)
class DoseEstimate:
    """BOIN's isotonic estimate for one dose and its 95% credible interval (``None`` untested)."""

    dose: int
    phat: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class BoinMtd:
    """``BOIN::select.mtd``'s answer: the MTD (``None`` = no dose, R's 99) and per-dose summaries."""

    mtd: int | None
    p_est: tuple[DoseEstimate, ...]
    p_overdose: tuple[float | None, ...]


def check_counts(npts: Sequence[int], ntox: Sequence[int]) -> None:
    """Patients and toxicities must be per-dose counts with 0 ≤ toxicities ≤ patients."""
    require(len(npts) >= 1, "npts", "there must be at least one dose")
    require(len(ntox) == len(npts), "ntox", f"has {len(ntox)} doses, npts has {len(npts)}")
    for i, (n, y) in enumerate(zip(npts, ntox)):
        require(n >= 0, f"npts[{i}]", f"{n} patients is negative")
        require(0 <= y <= n, f"ntox[{i}]", f"{y} toxicities is outside 0..{n}")


def posterior_mean(y: int, n: int) -> float:
    """(y + 0.05)/(n + 0.1), the posterior mean under BOIN's Beta(0.05, 0.05) prior."""
    return (y + PRIOR) / (n + 2 * PRIOR)


def inverse_variance(y: int, n: int) -> float:
    """1/Var of the Beta(y + 0.05, n − y + 0.05) posterior: BOIN's PAVA weight."""
    m = n + 2 * PRIOR
    return 1.0 / ((y + PRIOR) * (n - y + PRIOR) / (m * m * (m + 1)))


def eliminated_from(target: float, npts: Sequence[int], ntox: Sequence[int], cutoff_eli: float) -> int | None:
    """The lowest (0-based) dose the safety rule eliminates, with every dose above it."""
    for i, (n, y) in enumerate(zip(npts, ntox)):
        if too_toxic(target, y, n, cutoff_eli):
            return i
    return None


def isotonic_phat(npts: Sequence[int], ntox: Sequence[int]) -> list[float]:
    """Weighted PAVA of the posterior means of the given doses (BOIN's ``phat``)."""
    return pava([posterior_mean(y, n) for n, y in zip(npts, ntox)],
                [inverse_variance(y, n) for n, y in zip(npts, ntox)])


def overdose_probabilities(target: float, npts: Sequence[int], ntox: Sequence[int]) -> list[float]:
    """Unweighted PAVA of Pr(p > φ) under Beta(y + 0.05, n − y + 0.05) for the given doses."""
    return pava([1.0 - float(betainc(y + PRIOR, n - y + PRIOR, target)) for n, y in zip(npts, ntox)])


def select_mtd(
    target: float,
    npts: Sequence[int],
    ntox: Sequence[int],
    *,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    bound_mtd: bool = False,
    p_tox: float | None = None,
) -> BoinMtd:
    """The MTD and per-dose estimates of ``BOIN::select.mtd`` (Liu & Yuan 2015)."""
    require_probability(target, "target")
    require_probability(cutoff_eli, "cutoff_eli")
    require(0.0 <= offset < 0.5, "offset", f"{offset} is outside [0, 0.5)")
    check_counts(npts, ntox)
    p_tox = 1.4 * target if p_tox is None else p_tox
    if bound_mtd:
        require(target < p_tox < 1.0, "p_tox", f"{p_tox} is not between the target {target} and 1")
    mtd = mtd_dose(target, npts, ntox, cutoff_eli=cutoff_eli, extrasafe=extrasafe, offset=offset,
                   bound_mtd=bound_mtd, p_tox=p_tox)
    return BoinMtd(mtd, *_summaries(target, npts, ntox))


def mtd_dose(target: float, npts: Sequence[int], ntox: Sequence[int], *, cutoff_eli: float = 0.95,
             extrasafe: bool = False, offset: float = 0.05, bound_mtd: bool = False,
             p_tox: float | None = None) -> int | None:
    """The MTD of :func:`select_mtd` alone (``None``: R's 99), without its checks or per-dose summaries.

    For callers that checked their settings once and select many times
    (``get.oc`` selects at the end of every simulated trial).
    """
    p_tox = 1.4 * target if p_tox is None else p_tox
    return _select(target, npts, ntox, cutoff_eli, extrasafe, offset, p_tox if bound_mtd else None)


def _select(target: float, npts: Sequence[int], ntox: Sequence[int], cutoff_eli: float,
            extrasafe: bool, offset: float, p_tox: float | None) -> int | None:
    """The 1-based MTD, or ``None`` when every tested dose is eliminated or none was tested."""
    first_out = eliminated_from(target, npts, ntox, cutoff_eli)
    if extrasafe and too_toxic(target, ntox[0], npts[0], cutoff_eli - offset):
        first_out = 0  # BOIN's extra-safe rule: the lowest dose, hence every dose, is out
    admissible = [i for i in range(len(npts) if first_out is None else first_out) if npts[i] > 0]
    if not admissible:
        return None
    phat = isotonic_phat([npts[i] for i in admissible], [ntox[i] for i in admissible])
    phat = [p + (k + 1) * TIE_BREAK for k, p in enumerate(phat)]
    if p_tox is not None:
        lambda_d = deescalation_boundary(target, p_tox)
        phat = [p for p in phat if p < lambda_d]
        if not phat:
            return None
    distances = [abs(p - target) for p in phat]
    return admissible[distances.index(min(distances))] + 1


def _summaries(target: float, npts: Sequence[int], ntox: Sequence[int]
               ) -> tuple[tuple[DoseEstimate, ...], tuple[float | None, ...]]:
    """Isotonic estimates, 95% intervals and overdose probabilities; ``None`` for untested doses."""
    tested = [i for i, n in enumerate(npts) if n > 0]
    n_t, y_t = [npts[i] for i in tested], [ntox[i] for i in tested]
    weights = [inverse_variance(y, n) for n, y in zip(n_t, y_t)]
    a = [y + PRIOR for y in y_t]
    b = [n - y + PRIOR for n, y in zip(n_t, y_t)]
    phat = isotonic_phat(n_t, y_t)
    low = pava([float(betaincinv(ai, bi, 0.025)) for ai, bi in zip(a, b)], weights)
    high = pava([float(betaincinv(ai, bi, 0.975)) for ai, bi in zip(a, b)], weights)
    overdose = overdose_probabilities(target, n_t, y_t)
    position = {dose: k for k, dose in enumerate(tested)}
    estimates = tuple(
        DoseEstimate(d + 1, phat[position[d]], low[position[d]], high[position[d]])
        if d in position else DoseEstimate(d + 1, None, None, None)
        for d in range(len(npts))
    )
    return estimates, tuple(overdose[position[d]] if d in position else None for d in range(len(npts)))
