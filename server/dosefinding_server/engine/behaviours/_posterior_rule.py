"""What the two posterior-probability stopping stages share (Iasonos and O'Quigley 2016).

Each examined dose with data gets a Beta(prior_alpha + events, prior_beta +
n - events) posterior of its own event probability (toxicities, or responses
for futility) and the rule fires when P(p > theta | data) (toxicity) or
P(p < theta | data) (futility) exceeds ``confidence``, checked at every
decision, i.e. after every patient.  As with escalation's
``stop_when_too_toxic``, a rule firing at an examined dose (named,
recommended, or any) stops the trial and recommends no dose, and every dose at
which it fires is inadmissible.  A dose without patients never fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import AdmissibleVector, DerivedFit, DoseRef, Fit, dose_text
from ..selector import Behaviour, Feature
from ..stopping.posterior import PosteriorRule, Rule
from ._common import BehaviourFit, prob_text, require_number
from ._dose_rule import check_dose_ref, first_dose_where


@dataclass(frozen=True, kw_only=True)
class PosteriorRuleStage(Behaviour):
    """A posterior-probability rule on each examined dose's own data."""

    rule_kind: ClassVar[Rule]
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.COUNTS})
    dose: DoseRef
    theta: float
    confidence: float
    prior_alpha: float = 1.0
    prior_beta: float = 1.0

    def __post_init__(self) -> None:
        check_dose_ref(self.dose)
        for name in ("theta", "confidence", "prior_alpha", "prior_beta"):
            require_number(getattr(self, name), name)
        self.posterior.probability(0, 0)  # builds the rule: validates theta, confidence and the prior

    @property
    def posterior(self) -> PosteriorRule:
        return PosteriorRule(self.rule_kind, self.theta, self.confidence, self.prior_alpha, self.prior_beta)

    def wrap(self, parent: Fit) -> DerivedFit:
        return PosteriorRuleFit(parent, self)


class PosteriorRuleFit(BehaviourFit[PosteriorRuleStage]):
    """The parent's fit, stopped with no dose once the rule fires at an examined dose."""

    @cached_property
    def _events(self) -> list[int]:
        return self.tox_at_dose() if self.rule.rule_kind is Rule.TOXICITY else self.eff_at_dose()

    def _probability(self, dose: int) -> float | None:
        n = self.n_at_dose()[dose - 1]
        return self.rule.posterior.probability(n, self._events[dose - 1]) if n else None

    def _fires(self, dose: int) -> bool:
        p = self._probability(dose)
        return p is not None and p > self.rule.confidence

    @cached_property
    def _fired_at(self) -> int | None:
        return first_dose_where(self.parent, self.rule.dose, self._fires)

    def recommended_dose(self) -> int | None:
        return None if self._fired_at is not None else self.parent.recommended_dose()

    def continues(self) -> bool:
        return self.parent.continues() and self._fired_at is None

    def dose_admissible(self) -> AdmissibleVector:
        return tuple(False if self._fires(d) else ok for d, ok in enumerate(self.parent.dose_admissible(), 1))

    def explain(self) -> str:
        sign = ">" if self.rule.rule_kind is Rule.TOXICITY else "<"
        what = "tox" if self.rule.rule_kind is Rule.TOXICITY else "eff"
        fired = self._fired_at
        if fired is not None:
            return (f"P({what} {sign} {self.rule.theta:g} | data) at {dose_text(fired)} is "
                    f"{prob_text(self._probability(fired))} > {self.rule.confidence:g}: stop and recommend no dose")
        return f"the rule does not fire at the examined doses; {self.unchanged()}"
