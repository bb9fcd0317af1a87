"""BOIN12, the Bayesian optimal interval phase I/II design (Lin, Zhou, Yan, Li & Yuan 2020).

Each patient has a toxicity and an efficacy outcome.  Toxicity at the current
dose is screened with BOIN's boundaries for the target ``phi_t`` (Liu & Yuan
2015: lambda_e, lambda_d with BOIN's default phi_1 = 0.6 phi_t,
phi_2 = 1.4 phi_t); among the admissible doses next to the current one, the
dose with the best *desirability* is chosen, the desirability being
100 x P(utility > u_b): the four outcomes are scored u1 (efficacy only), u2
(neither), u3 (both), u4 (toxicity only); the utility's quasi-binomial
posterior is Beta(prior_alpha + x, prior_beta + n - x) with
x = (u1 y1 + u2 y2 + u3 y3 + u4 y4) / 100 (Lin et al. 2020, Methods), and
u_b is half-way between the highest undesirable utility and 100.

A neighbouring dose is admissible unless P(p_T > phi_t) >= c_t or
P(p_E < phi_e) >= c_e under Beta(1 + events, 1 + non-events) (Lin et al. 2020,
"Admissible doses").  Decision table (Lin et al. 2020, Table 2, and the dose
exploration rule of its supplement, as escalation applies them):

1. more than 8 patients at the current dose, toxicity rate below lambda_d,
   and the next dose untried: escalate;
2. toxicity rate >= lambda_d: de-escalate (staying at dose 1);
3. rate in (lambda_e, lambda_d) with at least ``n_star`` patients: the better
   of the current dose and the one below (the lower on ties; whichever is
   admissible when only one is; stop with no dose when neither is);
4. no admissible neighbour: stop with no dose;
5. otherwise the most desirable admissible neighbour (the higher on ties, as
   the authors' app does).

The toxicity and efficacy estimates are each dose's own Beta posterior (no
isotonic smoothing); medians use the closed-form approximation
(a - 1/3) / (a + b - 2/3), quantiles are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fit import AdmissibleVector, Fit, ProbVector
from ..numerics import beta_binomial as bb
from ..numerics.boin_boundary import MAX_TARGET, MIN_TARGET, interval_boundaries
from ..outcomes import Outcomes
from ..registry import register
from ..selector import Feature, Role, Selector, require, require_probability
from .move import Move, MoveFit


@register
@dataclass(frozen=True, kw_only=True)
class Boin12Selector(Selector):
    """BOIN12: utility-based phase I/II dose finding (slotted so that ``num_doses`` shadows the base property)."""

    kind: ClassVar[str] = "boin12"
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS, Feature.LAST_DOSE})
    role: ClassVar[Role] = Role.CORE
    models_efficacy: ClassVar[bool] = True

    num_doses: int  # type: ignore[assignment]
    phi_t: float
    phi_e: float
    u2: float
    u3: float
    u1: float = 100.0
    u4: float = 0.0
    n_star: int = 6
    c_t: float = 0.95
    c_e: float = 0.9
    start_dose: int = 1
    prior_alpha: float = 1.0
    prior_beta: float = 1.0

    def __post_init__(self) -> None:
        require(isinstance(self.num_doses, int) and self.num_doses >= 1, "num_doses",
                f"{self.num_doses} is not a whole number of 1 or more")
        for name in ("phi_t", "phi_e", "c_t", "c_e"):
            require_probability(getattr(self, name), name)
        require(MIN_TARGET <= self.phi_t <= MAX_TARGET, "phi_t",
                f"{self.phi_t} is outside BOIN's range [{MIN_TARGET}, {MAX_TARGET}] for a target")
        for name in ("u2", "u3"):
            value = getattr(self, name)
            require(self.u4 <= value <= self.u1, name, f"{value} is not between u4 = {self.u4} and u1 = {self.u1}")
        require(self.n_star >= 1, "n_star", f"{self.n_star} is not 1 or more")
        require(1 <= self.start_dose <= self.num_doses, "start_dose",
                f"dose {self.start_dose} is outside 1..{self.num_doses}")
        require(self.prior_alpha > 0, "prior_alpha", f"{self.prior_alpha} is not a positive Beta shape")
        require(self.prior_beta > 0, "prior_beta", f"{self.prior_beta} is not a positive Beta shape")

    def fit(self, outcomes: Outcomes) -> Fit:
        return self._stamp(Boin12Fit(self, outcomes))

    def boundaries(self) -> tuple[float, float]:
        """BOIN's (lambda_e, lambda_d) for ``phi_t`` with BOIN's defaults phi_1 = 0.6 phi_t, phi_2 = 1.4 phi_t."""
        return interval_boundaries(self.phi_t, 0.6 * self.phi_t, 1.4 * self.phi_t)

    def benchmark(self) -> float:
        """u_b: half-way from the highest undesirable utility (p_T = phi_t, p_E = phi_e) to 100.

        As escalation writes it, the efficacy-only outcome is scored 100 here whatever ``u1`` is
        (Lin et al. 2020 fix u1 = 100).
        """
        t, e = self.phi_t, self.phi_e
        worst = 100 * e * (1 - t) + self.u2 * (1 - t) * (1 - e) + self.u3 * t * e + self.u4 * t * (1 - e)
        return worst + (100 - worst) / 2

    def desirability(self, outcomes: Outcomes) -> tuple[float, ...]:
        """100 x P(utility > u_b) at every dose."""
        cut = self.benchmark() / 100
        pseudo = [total / 100 for total in _utility_totals(outcomes, self)]
        return tuple(100 * bb.upper_tail(cut, self.prior_alpha + x, self.prior_beta + m - x)
                     for x, m in zip(pseudo, outcomes.n_at_dose(self.num_doses)))

    def admissible(self, last: int, n: list[int], tox: list[int], eff: list[int]) -> list[int]:
        """The admissible doses among ``last`` and its neighbours, in dose order."""
        near = sorted({max(1, last - 1), last, min(self.num_doses, last + 1)})
        return [d for d in near
                if bb.upper_tail(self.phi_t, 1 + tox[d - 1], 1 + n[d - 1] - tox[d - 1]) < self.c_t
                and bb.cdf(self.phi_e, 1 + eff[d - 1], 1 + n[d - 1] - eff[d - 1]) < self.c_e]


#: (toxicity, efficacy) -> index among (efficacy only, neither, both, toxicity only), the order of u1..u4
_CATEGORY = {(False, True): 0, (False, False): 1, (True, True): 2, (True, False): 3}


def _utility_totals(outcomes: Outcomes, design: Boin12Selector) -> list[float]:
    """u1 y1 + u2 y2 + u3 y3 + u4 y4 at each dose (y = outcome counts), summed in that order as escalation does."""
    counts = [[0, 0, 0, 0] for _ in range(design.num_doses)]
    for p in outcomes.patients:
        counts[p.dose - 1][_CATEGORY[p.toxicity, bool(p.efficacy)]] += 1
    u = (design.u1, design.u2, design.u3, design.u4)
    return [u[0] * y[0] + u[1] * y[1] + u[2] * y[2] + u[3] * y[3] for y in counts]


class Boin12Fit(MoveFit):
    """A fitted BOIN12 design."""

    def __init__(self, design: Boin12Selector, outcomes: Outcomes) -> None:
        super().__init__(outcomes, design.num_doses)
        self.design = design
        self._n, self._tox, self._eff = self.n_at_dose(), self.tox_at_dose(), self.eff_at_dose()
        last = outcomes.last_dose
        if last is None:
            self._admissible = [design.start_dose]
            self._utility: ProbVector = self._none()
            self.own = Move(design.start_dose, True, f"BOIN12: no patients yet: start at dose {design.start_dose}")
        else:
            self._admissible = design.admissible(last, self._n, self._tox, self._eff)
            self._utility = design.desirability(outcomes)
            self.own = self._decide(last)

    def _decide(self, last: int) -> Move:
        d, n = self.design, self._n[last - 1]
        rate = self._tox[last - 1] / n
        low, high = d.boundaries()
        seen = f"BOIN12 at dose {last} ({self._tox[last - 1]}/{n} toxic, boundaries {low:.3f}/{high:.3f})"
        if n > 8 and rate < high and last < d.num_doses and self._n[last] == 0:
            return Move(last + 1, True, f"{seen}: more than 8 patients and dose {last + 1} untried: explore it")
        if rate >= high:
            dose = max(last - 1, 1)
            return Move(dose, True, f"{seen}: toxicity at or above the de-escalation boundary: dose {dose}")
        if low < rate and n >= d.n_star:
            dose = self._lower_or_current(last)
            if dose is None:
                return Move(None, False, f"{seen}: {n} >= n* = {d.n_star} patients in the stay band but neither "
                                         f"dose {last - 1} nor dose {last} is admissible: stop with no dose")
            return Move(dose, True, f"{seen}: {n} >= n* = {d.n_star} patients in the stay band: dose {dose}")
        if not self._admissible:
            return Move(None, False, f"{seen}: no admissible dose next to dose {last}: stop with no dose")
        best = max(self._utility[k - 1] for k in self._admissible)  # type: ignore[type-var]
        dose = [k for k in self._admissible if self._utility[k - 1] == best][-1]
        return Move(dose, True, f"{seen}: most desirable admissible dose among {self._admissible} "
                                f"(100 P(utility > u_b) = {best:.2f}): dose {dose}")

    def _lower_or_current(self, last: int) -> int | None:
        """Rule 3: the more desirable of ``last - 1`` and ``last`` (the lower on ties), if admissible."""
        lower_ok, current_ok = last - 1 in self._admissible, last in self._admissible
        if lower_ok and current_ok:
            return last - 1 if self._utility[last - 2] >= self._utility[last - 1] else last  # type: ignore[operator]
        if lower_ok:
            return last - 1
        return last if current_ok else None

    def dose_admissible(self) -> AdmissibleVector:
        return tuple(d in self._admissible for d in range(1, self.num_doses + 1))

    def _shapes(self, events: list[int]) -> list[tuple[float, float]]:
        d = self.design
        return [bb.posterior(d.prior_alpha, d.prior_beta, m, y) for m, y in zip(self._n, events)]

    def mean_prob_tox(self) -> ProbVector:
        return _means(self._shapes(self._tox))

    def median_prob_tox(self) -> ProbVector:
        return _medians(self._shapes(self._tox))

    def prob_tox_quantile(self, p: float) -> ProbVector:
        return tuple(bb.quantile(p, a, b) for a, b in self._shapes(self._tox))

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        return tuple(bb.upper_tail(threshold, a, b) for a, b in self._shapes(self._tox))

    def mean_prob_eff(self) -> ProbVector:
        return _means(self._shapes(self._eff))

    def median_prob_eff(self) -> ProbVector:
        return _medians(self._shapes(self._eff))

    def prob_eff_exceeds(self, threshold: float) -> ProbVector:
        return tuple(bb.upper_tail(threshold, a, b) for a, b in self._shapes(self._eff))

    def utility(self) -> ProbVector:
        return self._utility


def _means(shapes: list[tuple[float, float]]) -> ProbVector:
    return tuple(a / (a + b) for a, b in shapes)


def _medians(shapes: list[tuple[float, float]]) -> ProbVector:
    """The Beta median approximation (a - 1/3) / (a + b - 2/3) (Kerman 2011), as escalation reports it."""
    return tuple((a - 1 / 3) / (a + b - 2 / 3) for a, b in shapes)
