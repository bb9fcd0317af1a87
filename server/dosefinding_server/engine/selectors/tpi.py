"""TPI, the toxicity probability interval design (Ji, Li & Bekele 2007), and what mTPI and mTPI-2 share with it.

Every interval design here models each dose's toxicity probability with a
beta-binomial posterior and decides from the posterior at the dose given
last: the probability space is cut into an *under-dosing* region (escalate),
an *equivalence* interval around the target (stay) and an *over-dosing*
region (de-escalate), and the region that scores highest wins.  TPI scores a
region by its posterior probability; its equivalence interval is
``(target - K2 sigma, target + K1 sigma)`` with sigma the posterior standard
deviation (Ji et al. 2007, equations (1)-(2)).  mTPI and mTPI-2 change only
the regions and their scores (:mod:`.mtpi`, :mod:`.mtpi2`).

Shared safety rules (Ji et al. 2007, section 2.2): escalation is barred into
a next dose that is excluded (at least two patients and
P(p > target) >= xi); de-escalating below dose 1 is impossible, and the
trial stops with no dose when dose 1 itself is excluded in that situation
(P(p > target) > xi, as escalation does it), or always when
``stop_when_deescalation_impossible``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

from ..fit import AdmissibleVector, Fit, ProbVector, dose_text
from ..numerics import beta_binomial as bb
from ..numerics.grid_quantile import GRID, grid_quantile
from ..outcomes import Outcomes
from ..registry import register
from ..selector import Feature, Role, Selector, require, require_probability
from .move import Move, MoveFit


@dataclass(frozen=True)
class Regions:
    """Scores of the regions of the toxicity probability at the last dose.

    ``under``/``over`` hold one score per interval below/above the equivalence
    interval (one each for TPI and mTPI, several for mTPI-2).
    """

    under: tuple[float, ...]
    stay: float
    over: tuple[float, ...]
    lower: float
    upper: float

    def best(self) -> str:
        """'escalate', 'stay' or 'de-escalate': the region with the highest score.

        Ties go to escalation, then staying, as in mTPI-2 (Guo et al. 2017);
        for TPI and mTPI escalation raises an error on an exact tie, which
        needs a posterior balanced to the last bit.
        """
        top = max((self.stay, *self.under, *self.over))
        if top in self.under:
            return "escalate"
        return "stay" if top == self.stay else "de-escalate"


@dataclass(frozen=True, kw_only=True)
class IntervalSelector(Selector):
    """The beta-binomial interval designs: TPI, mTPI, mTPI-2.

    Slotted so that the ``num_doses`` field shadows :attr:`Selector.num_doses`;
    subclasses are slotted too and therefore call their base class's
    ``__post_init__`` by name (zero-argument ``super()`` fails in slotted dataclasses).
    """

    role: ClassVar[Role] = Role.CORE
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS, Feature.LAST_DOSE})
    #: name of the design in reasons
    title: ClassVar[str]
    #: what the region scores are, in reasons
    score_name: ClassVar[str]

    num_doses: int  # type: ignore[assignment]
    target: float
    exclusion_certainty: float
    alpha: float = 1.0
    beta: float = 1.0
    stop_when_deescalation_impossible: bool = False

    def __post_init__(self) -> None:
        require(isinstance(self.num_doses, int) and self.num_doses >= 1, "num_doses",
                f"{self.num_doses} is not a whole number of 1 or more")
        require_probability(self.target, "target")
        require(self.exclusion_certainty > 0, "exclusion_certainty",
                f"{self.exclusion_certainty} is not positive (above 1 disables exclusion)")
        require(self.alpha > 0, "alpha", f"{self.alpha} is not a positive Beta shape")
        require(self.beta > 0, "beta", f"{self.beta} is not a positive Beta shape")

    @abstractmethod
    def regions(self, a: float, b: float) -> Regions:
        """Region scores under the Beta(a, b) posterior at the last dose."""

    def bar_escalation(self, regions: Regions) -> Regions:
        """The regions when the next dose is excluded: escalation scores nothing."""
        return replace(regions, under=(0.0,))

    def fit(self, outcomes: Outcomes) -> Fit:
        path = self.parent.fit(outcomes) if self.parent is not None else None
        return self._stamp(IntervalFit(self, outcomes, path))

    def move(self, n: list[int], tox: list[int], last: int | None) -> Move:
        """The design's decision after the patients so far (``last`` = dose given last, 1-based)."""
        if last is None:
            return Move(1, True, f"{self.title}: no patients yet: start at dose 1")
        a, b = bb.posterior(self.alpha, self.beta, n[last - 1], tox[last - 1])
        regions = self.regions(a, b)
        barred = last < self.num_doses and self._excluded(n[last], tox[last])
        if barred:
            regions = self.bar_escalation(regions)
        choice = regions.best()
        seen = f"{self.title} at dose {last} ({tox[last - 1]}/{n[last - 1]} toxic): "
        why = (f"{self.score_name} highest for '{choice}' given equivalence interval "
               f"[{regions.lower:.4g}, {regions.upper:.4g}]"
               + (f", dose {last + 1} excluded" if barred else ""))
        return self._act(choice, last, bb.upper_tail(self.target, a, b), seen + why)

    def _excluded(self, n: int, tox: int) -> bool:
        a, b = bb.posterior(self.alpha, self.beta, n, tox)
        return n >= 2 and bb.upper_tail(self.target, a, b) >= self.exclusion_certainty

    def _act(self, choice: str, last: int, unsafe: float, why: str) -> Move:
        if choice == "escalate":
            dose = min(self.num_doses, last + 1)
            return Move(dose, True, f"{why}: escalate to dose {dose}")
        if choice == "stay":
            return Move(last, True, f"{why}: stay at dose {last}")
        if last > 1:
            return Move(last - 1, True, f"{why}: de-escalate to dose {last - 1}")
        if self.stop_when_deescalation_impossible:
            return Move(None, False, f"{why}: cannot de-escalate below dose 1: stop")
        if unsafe > self.exclusion_certainty:
            return Move(None, False, f"{why}: dose 1 too toxic (P(p > {self.target:g}) = "
                                     f"{unsafe:.3f} > {self.exclusion_certainty:g}): stop")
        return Move(1, True, f"{why}: cannot de-escalate below dose 1: stay at dose 1")


class IntervalFit(MoveFit):
    """A fitted interval design; a preceding ``follow_path`` decides while it continues."""

    def __init__(self, design: IntervalSelector, outcomes: Outcomes, path: Fit | None) -> None:
        super().__init__(outcomes, design.num_doses, path)
        self.design = design
        self._n, self._tox = self.n_at_dose(), self.tox_at_dose()
        self.own = design.move(self._n, self._tox, outcomes.last_dose)
        self._exceeds = bb.memoised(
            lambda t: bb.pava_exceeds(design.alpha, design.beta, self._n, self._tox, t))

    def _path_leads(self) -> bool:
        return self.path is not None and self.path.continues()

    def recommended_dose(self) -> int | None:
        if self._path_leads():
            assert self.path is not None
            dose = self.path.recommended_dose()
            if dose is not None:
                return dose
        return self.own.dose

    def continues(self) -> bool:
        return self._path_leads() or self.own.continues

    def reason(self) -> str:
        if self._path_leads():
            return (f"path continues, so its {dose_text(self.recommended_dose())} stands "
                    f"({self.own.reason})")
        return self.own.reason

    def tox_target(self) -> float | None:
        return self.design.target

    def mean_prob_tox(self) -> ProbVector:
        return bb.pava_means(self.design.alpha, self.design.beta, self._n, self._tox)

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        return self._exceeds(threshold)

    @cached_property
    def _exceedance_grid(self) -> tuple[ProbVector, ...]:
        """``prob_tox_exceeds`` at every quantile grid point, computed together."""
        return bb.pava_exceeds_grid(self.design.alpha, self.design.beta, self._n, self._tox, GRID)

    def prob_tox_quantile(self, p: float) -> ProbVector:
        return grid_quantile(self._exceedance_grid, p)

    def median_prob_tox(self) -> ProbVector:
        return self.prob_tox_quantile(0.5)

    def dose_admissible(self) -> AdmissibleVector:
        d = self.design
        return bb.excluded_above(self._n, self._exceeds(d.target), d.exclusion_certainty)


@register
@dataclass(frozen=True, kw_only=True)
class TpiSelector(IntervalSelector):
    """TPI (Ji et al. 2007): regions scored by posterior probability; EI = (pT - K2 sigma, pT + K1 sigma)."""

    kind: ClassVar[str] = "tpi"
    title: ClassVar[str] = "TPI"
    score_name: ClassVar[str] = "posterior probability"

    k1: float
    k2: float
    alpha: float = 0.005
    beta: float = 0.005

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.k1 >= 0, "k1", f"{self.k1} is negative")
        require(self.k2 >= 0, "k2", f"{self.k2} is negative")

    def regions(self, a: float, b: float) -> Regions:
        sd = bb.posterior_sd(a, b)
        lower = max(self.target - self.k2 * sd, 0.0)
        upper = min(self.target + self.k1 * sd, 1.0)
        under = bb.cdf(lower, a, b)
        stay = bb.cdf(upper, a, b) - under
        return Regions((under,), stay, (1 - under - stay,), lower, upper)

    def bar_escalation(self, regions: Regions) -> Regions:
        """TPI moves the escalation probability into 'stay' when the next dose is excluded."""
        return replace(regions, under=(0.0,), stay=regions.stay + regions.under[0])

