"""Posterior-probability stopping rules on one arm (Iasonos and O'Quigley 2016).

With a Beta(alpha, beta) prior and ``events`` out of ``n`` patients, the
posterior of the event probability p is Beta(alpha + events, beta + n - events)
(conjugacy).  The toxicity rule stops when P(p > theta | data) > confidence;
the futility rule, applied to responses, stops when P(p < theta | data) >
confidence.  Tail probabilities are the regularised incomplete beta function
(scipy.special.betainc / betaincc, Cephes; relative accuracy ~1e-15, against a
reference tolerance of 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from scipy.special import betainc, betaincc

from ..errors import InputError
from ..selector import require, require_probability

MAX_TABLE_PATIENTS = 10_000


class Rule(Enum):
    TOXICITY = "toxicity"
    FUTILITY = "futility"


@dataclass(frozen=True, slots=True)
class PosteriorRule:
    """A posterior-probability rule: its kind, threshold theta, confidence and beta prior."""

    rule: Rule
    theta: float
    confidence: float
    prior_alpha: float
    prior_beta: float

    def __post_init__(self) -> None:
        require_probability(self.theta, "theta")
        require_probability(self.confidence, "confidence")
        require(self.prior_alpha > 0, "prior_alpha", f"{self.prior_alpha} is not positive")
        require(self.prior_beta > 0, "prior_beta", f"{self.prior_beta} is not positive")

    def probability(self, n: int, events: int) -> float:
        """P(p > theta | data) for the toxicity rule, P(p < theta | data) for futility."""
        require(n >= 0, "n", f"{n} patients is negative")
        require(0 <= events <= n, "events", f"{events} events is outside 0..{n}")
        a = self.prior_alpha + events
        b = self.prior_beta + n - events
        if self.rule is Rule.TOXICITY:
            return float(betaincc(a, b, self.theta))
        return float(betainc(a, b, self.theta))

    def stops(self, n: int, events: int) -> bool:
        """Whether the rule stops the arm (strictly more than ``confidence``)."""
        return self.probability(n, events) > self.confidence

    def boundary(self, n: int) -> int | None:
        """The count that stops at ``n`` patients, or ``None`` when no count does.

        Toxicity: the smallest number of toxicities that stops (stop if events >=
        boundary).  Futility: the largest number of responses that stops (stop if
        events <= boundary).  Both probabilities are monotone in ``events``.
        """
        counts = range(n + 1) if self.rule is Rule.TOXICITY else range(n, -1, -1)
        return next((events for events in counts if self.stops(n, events)), None)

    def table(self, max_n: int) -> list[tuple[int, int | None]]:
        """The boundary for every n = 1 .. max_n, as a protocol prints it."""
        if not 1 <= max_n <= MAX_TABLE_PATIENTS:
            raise InputError("max_n", f"{max_n} is outside 1..{MAX_TABLE_PATIENTS}")
        return [(n, self.boundary(n)) for n in range(1, max_n + 1)]
