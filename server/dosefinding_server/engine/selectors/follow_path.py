"""follow_path: give doses along a pre-specified outcome path while the trial matches it.

A fixed initial escalation plan ("three patients at each dose until the first
toxicity") run before a model-based design takes over (Cheung 2011, section
3.2's two-stage CRM; escalation's ``follow_path``).  Patients are matched to
the path one by one, on dose and toxicity; while the outcomes so far are a
proper prefix of the path, the recommendation is the dose of the next patient
on it.  Once they leave the path, or use it up, the path recommends nothing
and stops, and a following core selector decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Hashable

from ..fit import Fit
from ..outcomes import Outcomes, Patient, parse_outcome_string
from ..registry import register
from ..selector import Feature, Role, Selector


@register
@dataclass(frozen=True, kw_only=True)
class FollowPath(Selector):
    """Recommend the next dose on ``path`` while the outcomes follow it."""

    kind: ClassVar[str] = "follow_path"
    role: ClassVar[Role] = Role.PATH
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.OWN_STATE})

    path: str
    steps: tuple[Patient, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", parse_outcome_string(self.path, field="path").patients)

    @property
    def num_doses(self) -> int | None:
        """Unknown: alone, a fit covers the doses named by the path and the outcomes."""
        return None

    def own_state(self, outcomes: Outcomes) -> Hashable:
        """Where the outcomes are: on the path after n patients, or off it (n capped at the path's
        length, with the highest dose given, which sets the number of doses of a path-only design)."""
        on_path = self.follows(outcomes)
        return on_path, min(outcomes.num_patients, len(self.steps)), None if on_path else outcomes.max_dose

    def follows(self, outcomes: Outcomes) -> bool:
        """Whether the outcomes are a proper prefix of the path (matched on dose and toxicity)."""
        given, steps = outcomes.patients, self.steps
        return len(given) < len(steps) and all(
            (p.dose, p.toxicity) == (s.dose, s.toxicity) for p, s in zip(given, steps))

    def fit(self, outcomes: Outcomes) -> Fit:
        doses = max(outcomes.max_dose, max((p.dose for p in self.steps), default=0))
        return self._stamp(PathFit(self, outcomes, doses))


class PathFit(Fit):
    """The path's answer: the next patient's dose on it, or no dose once off it."""

    def __init__(self, design: FollowPath, outcomes: Outcomes, num_doses: int) -> None:
        super().__init__(outcomes, num_doses)
        given, steps = outcomes.patients, design.steps
        self.on_path = design.follows(outcomes)
        self.next_dose = steps[len(given)].dose if self.on_path else None
        self.used_up = len(given) >= len(steps)

    def recommended_dose(self) -> int | None:
        return self.next_dose

    def continues(self) -> bool:
        return self.next_dose is not None

    def reason(self) -> str:
        if self.on_path:
            return f"outcomes follow the path: next patient on it gets dose {self.next_dose}"
        if self.used_up:
            return "every patient on the path has been treated: no dose from the path"
        return "outcomes have left the path: no dose from the path"
