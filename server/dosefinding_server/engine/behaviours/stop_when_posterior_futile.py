"""Stop for futility when P(p_eff < theta | data) > confidence at a dose (Devlin, Iasonos and O'Quigley 2021).

The dose's own responses under a Beta prior; for designs that record
efficacy (phase I/II outcomes).  See :mod:`._posterior_rule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..registry import register
from ..stopping.posterior import Rule
from ._posterior_rule import PosteriorRuleStage


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenPosteriorFutile(PosteriorRuleStage):
    """Stop, recommending no dose, when a dose's response rate is probably below ``theta``."""

    kind: ClassVar[str] = "stop_when_posterior_futile"
    rule_kind: ClassVar[Rule] = Rule.FUTILITY
