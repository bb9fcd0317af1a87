"""Stop when P(p_tox > theta | data) > confidence at a dose (Iasonos and O'Quigley 2016).

The dose's own toxicities under a Beta prior, not the design's model: a
model-free safety rule for any design, checked after every patient.  See
:mod:`._posterior_rule` for the shared semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..registry import register
from ..stopping.posterior import Rule
from ._posterior_rule import PosteriorRuleStage


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenPosteriorToxic(PosteriorRuleStage):
    """Stop, recommending no dose, when a dose's toxicity is probably above ``theta``."""

    kind: ClassVar[str] = "stop_when_posterior_toxic"
    rule_kind: ClassVar[Rule] = Rule.TOXICITY
