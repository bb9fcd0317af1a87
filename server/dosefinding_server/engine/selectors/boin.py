"""escalation's ``boin`` core selector (``get_boin``): the BOIN design of Liu & Yuan (2015).

The next dose depends only on the patients at the dose given last: with y
toxicities among its n patients, BOIN escalates when y ≤ ⌊λe·n⌋, de-escalates
when y ≥ ⌈λd·n⌉ and otherwise stays (Liu & Yuan 2015; the
boundaries come from :mod:`..numerics.boin_boundary`).  As
``escalation:::boin_selector`` (escalation 0.2.3) does, with the stopping rule
on, escalation never enters a dose whose own data meet the elimination
boundary, and de-escalation from a dose that meets it either moves one dose
down or, from dose 1, stops the trial with no dose (their safety rule).  With
``stop_when_deescalation_impossible`` a de-escalation asked for at dose 1
stops the trial too.

Model summaries are escalation's: ``mean_prob_tox`` is ``BOIN::select.mtd``'s
isotonic estimate as the two-decimal string R prints; ``prob_tox_exceeds`` is
the unweighted PAVA over the tested doses of Pr(p > t) under Beta(0.05 + y,
0.05 + n − y); quantiles invert it on a 0.01 grid.

Documented deviation: escalation passes ``extrasafe`` and ``offset`` only to
``get.boundary``, where they change nothing.  Here, with the stopping rule on,
``extrasafe`` applies BOIN's extra-safe rule as ``BOIN::get.oc`` does: at dose
1 with n ≥ 3, stop with no dose when Pr(p₁ > φ | data) > ``cutoff_eli −
offset`` under a Beta(1, 1) prior, and mark every dose inadmissible then.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar

from ..errors import InputError
from ..fit import AdmissibleVector, CoreFit, ProbVector
from ..numerics import beta_binomial as bb
from ..numerics.boin_boundary import (
    BoinSettings, BoundaryRow, boin_settings, boundary_at, posterior_exceeds, too_toxic,
)
from ..numerics.boin_mtd import PRIOR, isotonic_phat
from ..numerics.grid_quantile import GRID, grid_quantile
from ..outcomes import Outcomes
from ..registry import register
from ..selector import Feature, Role, Selector, require


@register
@dataclass(frozen=True, kw_only=True)
class Boin(Selector):
    """``get_boin(num_doses, target, use_stopping_rule, stop_when_deescalation_impossible, ...)``."""

    kind: ClassVar[str] = "boin"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS, Feature.LAST_DOSE})
    role: ClassVar[Role] = Role.CORE

    num_doses: int
    target: float
    use_stopping_rule: bool = True
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    stop_when_deescalation_impossible: bool = False

    def __post_init__(self) -> None:
        require(type(self.num_doses) is int and self.num_doses >= 1, "num_doses",
                f"{self.num_doses!r} is not a whole number of doses, 1 or more")
        for name in ("target", "cutoff_eli", "offset", "p_saf", "p_tox"):
            value = getattr(self, name)
            optional = name in ("p_saf", "p_tox")
            require((optional and value is None) or _is_number(value), name, f"{value!r} is not a number")
        for name in ("use_stopping_rule", "extrasafe", "stop_when_deescalation_impossible"):
            value = getattr(self, name)
            require(isinstance(value, bool), name, f"{value!r} is not true or false")
        boin_settings(self.target, self.p_saf, self.p_tox, self.cutoff_eli, self.offset)  # raises if impossible

    @property
    def settings(self) -> BoinSettings:
        """The validated boundary settings (cached by value)."""
        return boin_settings(self.target, self.p_saf, self.p_tox, self.cutoff_eli, self.offset)

    def boundaries(self, n: int) -> BoundaryRow:
        """The escalation, de-escalation and elimination boundaries for n patients at a dose."""
        s = self.settings
        return boundary_at(n, s.target, s.p_saf, s.p_tox, s.cutoff_eli)

    def fit(self, outcomes: Outcomes) -> "BoinFit":
        if outcomes.max_dose > self.num_doses:
            raise InputError("outcomes", f"dose {outcomes.max_dose} is outside 1..{self.num_doses}")
        return self._stamp(BoinFit(self, outcomes))  # type: ignore[return-value]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class _Decision:
    """The next dose, whether to continue, and which rule of the design decided."""

    dose: int | None
    continues: bool
    rule: str


class BoinFit(CoreFit):
    """A BOIN design fitted to outcomes: escalation's ``boin_selector``."""

    def __init__(self, design: Boin, outcomes: Outcomes) -> None:
        super().__init__(outcomes, design.num_doses)
        self.design = design
        self.n = outcomes.n_at_dose(design.num_doses)
        self.tox = outcomes.tox_at_dose(design.num_doses)
        self.last = outcomes.last_dose
        self.decision = self._decide()

    # Decisions -------------------------------------------------------------

    def _decide(self) -> _Decision:
        last = self.last
        if last is None:
            return _Decision(1, True, "start")
        if self._extra_safe_stop():
            return _Decision(None, False, "extra-safe")
        row = self.design.boundaries(self.n[last - 1])
        y = self.tox[last - 1]
        if y <= row.escalate_if_le:
            return self._escalate(last)
        if y >= row.deescalate_if_ge:
            return self._deescalate(last, row, y)
        return _Decision(last, True, "stay")

    def _escalate(self, last: int) -> _Decision:
        up = min(self.num_doses, last + 1)
        if self.design.use_stopping_rule and self.n[up - 1] > 0 and self._meets_elimination(up):
            return _Decision(last, True, "blocked")
        return _Decision(up, True, "escalate" if up > last else "top")

    def _deescalate(self, last: int, row: BoundaryRow, y: int) -> _Decision:
        eliminate = row.eliminate_if_ge
        if self.design.use_stopping_rule and eliminate is not None and y >= eliminate:
            return _Decision(None, False, "eliminate") if last == 1 else _Decision(last - 1, True, "eliminate")
        if last > 1:
            return _Decision(last - 1, True, "de-escalate")
        if self.design.stop_when_deescalation_impossible:
            return _Decision(None, False, "floor")
        return _Decision(1, True, "floor")

    def _meets_elimination(self, dose: int) -> bool:
        """Whether the dose's own data meet the elimination boundary (Liu & Yuan's safety rule)."""
        n = self.n[dose - 1]
        eliminate = self.design.boundaries(n).eliminate_if_ge if n > 0 else None
        return eliminate is not None and self.tox[dose - 1] >= eliminate

    def _lowest_dose_too_toxic(self) -> bool:
        """BOIN's extra-safe rule on dose 1 (only with ``extrasafe`` and the stopping rule)."""
        design = self.design
        s = design.settings
        return (design.extrasafe and design.use_stopping_rule
                and too_toxic(s.target, self.tox[0], self.n[0], s.cutoff_eli - s.offset))

    def _extra_safe_stop(self) -> bool:
        return self.last == 1 and self._lowest_dose_too_toxic()

    def recommended_dose(self) -> int | None:
        return self.decision.dose

    def continues(self) -> bool:
        return self.decision.continues

    def reason(self) -> str:
        rule, last = self.decision.rule, self.last
        if last is None:
            return "BOIN: no patients yet: start at dose 1"
        n, y = self.n[last - 1], self.tox[last - 1]
        row = self.design.boundaries(n)
        at = f"BOIN at dose {last}: {y}/{n} toxicities"
        if rule == "extra-safe":
            s = self.design.settings
            return (f"BOIN extra-safe rule at dose 1: Pr(p > {s.target} | {y}/{n}) = "
                    f"{posterior_exceeds(s.target, y, n):.3f} > cutoff_eli - offset = "
                    f"{s.cutoff_eli - s.offset:g}: stop, no dose")
        if rule == "stay":
            return (f"{at} between escalation boundary {row.escalate_if_le} and de-escalation boundary "
                    f"{row.deescalate_if_ge} (n={n}): stay at dose {last}")
        if rule in ("escalate", "top", "blocked"):
            return f"{at} <= escalation boundary {row.escalate_if_le} (n={n}): {self._escalation_text(last)}"
        if rule == "eliminate":
            return (f"{at} >= elimination boundary {row.eliminate_if_ge} (n={n}): doses {last} and above "
                    f"eliminated: {self._move_text()}")
        return f"{at} >= de-escalation boundary {row.deescalate_if_ge} (n={n}): {self._move_text()}"

    def _escalation_text(self, last: int) -> str:
        rule = self.decision.rule
        if rule == "escalate":
            return f"escalate to dose {self.decision.dose}"
        if rule == "top":
            return f"dose {last} is the highest: stay at dose {last}"
        up = last + 1
        return (f"dose {up} is eliminated ({self.tox[up - 1]}/{self.n[up - 1]} >= elimination boundary "
                f"{self.design.boundaries(self.n[up - 1]).eliminate_if_ge}): stay at dose {last}")

    def _move_text(self) -> str:
        dose, rule = self.decision.dose, self.decision.rule
        if rule == "floor":
            if dose is None:
                return "cannot de-escalate below dose 1 (stop_when_deescalation_impossible): stop, no dose"
            return "dose 1 is the lowest: stay at dose 1"
        return "stop, no dose" if dose is None else f"de-escalate to dose {dose}"

    def warnings(self) -> tuple[str, ...]:
        if self.decision.rule == "extra-safe":
            return ("BOIN's extra-safe rule stopped the trial; escalation's get_boin ignores extrasafe "
                    "(documented deviation)",)
        return ()

    # Model summaries -------------------------------------------------------

    def tox_target(self) -> float | None:
        return self.design.target

    def dose_admissible(self) -> AdmissibleVector:
        """Doses from the first one meeting its elimination boundary upwards are inadmissible."""
        if not self.design.use_stopping_rule:
            return (True,) * self.num_doses
        if self._lowest_dose_too_toxic():
            return (False,) * self.num_doses
        first_out = next((d for d in range(1, self.num_doses + 1) if self._meets_elimination(d)), None)
        return tuple(first_out is None or d < first_out for d in range(1, self.num_doses + 1))

    @cached_property
    def _mean_prob_tox(self) -> ProbVector:
        tested = [d for d in range(self.num_doses) if self.n[d] > 0]
        phat = isotonic_phat([self.n[d] for d in tested], [self.tox[d] for d in tested])
        out: list[float | None] = [None] * self.num_doses
        for d, p in zip(tested, phat):
            out[d] = float(f"{p:.2f}")
        return tuple(out)

    def mean_prob_tox(self) -> ProbVector:
        """``BOIN::select.mtd``'s isotonic estimates, as R prints them (2 decimals); untested ``None``."""
        return self._mean_prob_tox

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        """PAVA over tested doses of Pr(p > t) under Beta(0.05 + y, 0.05 + n − y); untested ``None``."""
        return self._exceeds(threshold)

    @cached_property
    def _exceeds(self) -> Callable[[float], ProbVector]:
        return bb.memoised(lambda t: bb.pava_exceeds(PRIOR, PRIOR, self.n, self.tox, t))

    @cached_property
    def _exceedance_grid(self) -> tuple[ProbVector, ...]:
        return bb.pava_exceeds_grid(PRIOR, PRIOR, self.n, self.tox, GRID)

    def prob_tox_quantile(self, p: float) -> ProbVector:
        return grid_quantile(self._exceedance_grid, p)

    def median_prob_tox(self) -> ProbVector:
        return self.prob_tox_quantile(0.5)
