"""A Decision: what the service answers for a design fitted to outcomes.

The recommended dose (or none), whether to continue, per-dose summaries at the
quantiles and thresholds the caller asked for, and the decision trace.  This
is plain data; the gRPC layer translates it to ``dosefinding.v1.Decision``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import InputError
from .fit import Fit, TraceStep
from .outcomes import Outcomes
from .selector import Selector


@dataclass(frozen=True, slots=True)
class DoseSummary:
    """Everything the model says about one dose level."""

    dose: int
    patients: int
    toxicities: int
    efficacies: int | None
    admissible: bool | None
    mean_prob_tox: float | None
    median_prob_tox: float | None
    prob_tox_quantiles: tuple[float | None, ...]
    prob_tox_exceeds: tuple[float | None, ...]
    mean_prob_eff: float | None = None
    median_prob_eff: float | None = None
    prob_eff_exceeds: tuple[float | None, ...] = ()
    utility: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "which dose next, and should the trial go on?"."""

    recommended_dose: int | None
    continues: bool
    num_patients: int
    doses: tuple[DoseSummary, ...]
    quantile_levels: tuple[float, ...]
    exceedance_thresholds: tuple[float, ...]
    efficacy_thresholds: tuple[float, ...]
    trace: tuple[TraceStep, ...]
    warnings: tuple[str, ...]


def decide(
    design: Selector,
    outcomes: Outcomes,
    quantiles: Sequence[float] = (),
    thresholds: Sequence[float] = (),
    efficacy_thresholds: Sequence[float] = (),
) -> Decision:
    """Fit ``design`` to ``outcomes`` and summarise the fit at the caller's ``quantiles`` (levels strictly
    between 0 and 1) and ``thresholds`` and ``efficacy_thresholds`` (probabilities, 0 to 1); any other level
    or threshold, NaN among them, is refused by the request field it came in (a quantile at level 1.5 has
    no meaning, and answering one would be a guess)."""
    _check_levels("quantiles", quantiles, lambda p: 0.0 < p < 1.0, "strictly between 0 and 1")
    _check_levels("tox_thresholds", thresholds, lambda t: 0.0 <= t <= 1.0, "a probability (0 to 1)")
    _check_levels("eff_thresholds", efficacy_thresholds, lambda t: 0.0 <= t <= 1.0, "a probability (0 to 1)")
    return summarise(design.fit(outcomes), quantiles, thresholds, efficacy_thresholds,
                     efficacy=design.efficacy)


def summarise(
    fit: Fit,
    quantiles: Sequence[float] = (),
    thresholds: Sequence[float] = (),
    efficacy_thresholds: Sequence[float] = (),
    *,
    efficacy: bool = False,
) -> Decision:
    """The Decision of a fitted design; ``efficacy`` says whether the design models efficacy."""
    k = fit.num_doses
    n, tox = fit.n_at_dose(), fit.tox_at_dose()
    eff = fit.eff_at_dose() if efficacy else [None] * k
    admissible = fit.dose_admissible()
    mean, median = fit.mean_prob_tox(), fit.median_prob_tox()
    q = [fit.prob_tox_quantile(p) for p in quantiles]
    e = [fit.prob_tox_exceeds(t) for t in thresholds]
    mean_eff, median_eff = fit.mean_prob_eff(), fit.median_prob_eff()
    e_eff = [fit.prob_eff_exceeds(t) for t in efficacy_thresholds]
    utility = fit.utility()
    doses = tuple(
        DoseSummary(
            dose=d + 1,
            patients=n[d],
            toxicities=tox[d],
            efficacies=eff[d],
            admissible=admissible[d],
            mean_prob_tox=mean[d],
            median_prob_tox=median[d],
            prob_tox_quantiles=tuple(v[d] for v in q),
            prob_tox_exceeds=tuple(v[d] for v in e),
            mean_prob_eff=mean_eff[d],
            median_prob_eff=median_eff[d],
            prob_eff_exceeds=tuple(v[d] for v in e_eff),
            utility=utility[d],
        )
        for d in range(k)
    )
    recommended = fit.recommended_dose()
    warnings: list[str] = []
    if recommended is not None and admissible[recommended - 1] is False:
        warnings.append(
            f"dose {recommended} is recommended although the design marks it inadmissible "
            "(as the reference R implementation does)"
        )
    trace = tuple(fit.trace())
    warnings.extend(w for step in trace for w in step.warnings)
    return Decision(
        recommended_dose=recommended,
        continues=fit.continues(),
        num_patients=fit.num_patients,
        doses=doses,
        quantile_levels=tuple(quantiles),
        exceedance_thresholds=tuple(thresholds),
        efficacy_thresholds=tuple(efficacy_thresholds),
        trace=trace,
        warnings=tuple(warnings),
    )


def _check_levels(field: str, values: Sequence[float], valid: Callable[[float], bool], expected: str) -> None:
    for index, value in enumerate(values):
        if not valid(value):  # NaN fails every comparison, so it is refused too
            raise InputError(f"{field}[{index}]", f"{value!r} is not {expected}")
