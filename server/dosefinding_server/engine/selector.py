"""Selectors: the stages of a design, as escalation's selector factories.

A stage is a frozen dataclass holding its parameters (validated on
construction: an impossible parameter raises :class:`InputError` naming the
field) and, once placed in a design, the stage before it.  ``fit`` fits the
chain up to and including this stage.

Each stage also declares what of the outcomes its own decision reads
(:class:`Feature`), so that a simulator can memoise fits by
:meth:`Selector.state_key`: outcomes with equal keys have equal fits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from operator import attrgetter
from typing import ClassVar, Hashable, NamedTuple, Sequence

from .errors import InputError
from .fit import DerivedFit, Fit
from .outcomes import ESCALATION, Outcomes, Patient


class Role(Enum):
    """Where a stage may stand in a design."""

    PATH = "path"  # follow_path: first, before a core selector or alone
    CORE = "core"  # the one core selector
    BEHAVIOUR = "behaviour"  # after the core selector


class Feature(Enum):
    """What of the outcomes a stage's own decision reads, besides the fit of the stages before it.

    Each feature is a *sufficient state*: outcomes that agree on it still agree
    once the same patients are added to both.  A stage that reads more than
    it declares makes memoised simulations wrong, so the default is the
    whole sequence, which shares nothing.
    """

    SEQUENCE = "sequence"  # every patient, in order (the safe default)
    COUNTS = "counts"  # per dose, how many patients had each (toxicity, efficacy) outcome, by phase
    LAST_DOSE = "last_dose"  # the dose given last
    OWN_STATE = "own_state"  # what the stage's own_state() returns (order-sensitive)


class _KeyReads(NamedTuple):
    """The features a design's :meth:`Selector.state_key` holds, and the stages with their own state."""

    sequence: bool
    counts: bool
    last_dose: bool
    own_stages: tuple["Selector", ...]


@dataclass(frozen=True, kw_only=True)
class Selector(ABC):
    """A stage of a design, chained to the stage before it (``parent``)."""

    kind: ClassVar[str]
    role: ClassVar[Role]
    #: core selectors that may follow a ``follow_path`` stage
    accepts_path: ClassVar[bool] = False
    #: whether the design's outcomes carry efficacy (phase I/II)
    models_efficacy: ClassVar[bool] = False

    parent: "Selector | None" = field(default=None, compare=False, repr=False)
    index: int = field(default=0, compare=False)

    #: Number of dose levels, or ``None`` when only the data can say (``follow_path``
    #: alone).  Cores declare it (a ``num_doses`` parameter, or a property such as
    #: the length of a CRM skeleton); behaviours inherit their parent's.
    num_doses: ClassVar[int | None]

    #: what of the outcomes this stage's own decision reads (see :class:`Feature`)
    reads: ClassVar[frozenset[Feature]] = frozenset({Feature.SEQUENCE})

    @property
    def efficacy(self) -> bool:
        return self.models_efficacy or (self.parent is not None and self.parent.efficacy)

    def stages(self) -> list["Selector"]:
        """The stages of the design up to this one, first to last."""
        chain: list[Selector] = []
        stage: Selector | None = self
        while stage is not None:
            chain.append(stage)
            stage = stage.parent
        return chain[::-1]

    def own_state(self, outcomes: Outcomes) -> Hashable:
        """For a stage that reads :attr:`Feature.OWN_STATE`: the state its decision depends on."""
        return None

    def state_key(self, outcomes: Outcomes) -> Hashable:
        """A key such that outcomes with equal keys have equal fits of the design up to this stage.

        Built from the union of the stages' :attr:`reads`; it stays a
        sufficient state, so a simulator may share one fit between every
        trial that reaches the same key.
        """
        reads = self._key_reads
        if reads.sequence:
            return outcomes.patients
        counts = _outcome_counts(outcomes) if reads.counts else None
        last = outcomes.last_dose if reads.last_dose else None
        own = tuple(stage.own_state(outcomes) for stage in reads.own_stages)
        return counts, last, own

    def key_after(self, key: Hashable, patients: Sequence[Patient]) -> Hashable | None:
        """The :meth:`state_key` of outcomes whose key is ``key`` once ``patients`` are added, computed from
        the key alone (a simulator then builds only the states it has not met), or ``None`` when the
        stages read the sequence or their own state, which the key does not hold."""
        reads = self._key_reads
        if reads.sequence or reads.own_stages:
            return None
        counts, last, own = key
        if counts is not None:
            updated = dict(counts)
            for outcome in map(_OUTCOME, patients):
                updated[outcome] = updated.get(outcome, 0) + 1
            counts = frozenset(updated.items())
        if reads.last_dose:
            last = next((p.dose for p in reversed(patients) if p.phase == ESCALATION), last)
        return counts, last, own

    @cached_property
    def _key_reads(self) -> "_KeyReads":
        """What :meth:`state_key` reads (computed once: a simulator keys every state it reaches)."""
        stages = self.stages()
        reads = frozenset().union(*(stage.reads for stage in stages))
        return _KeyReads(Feature.SEQUENCE in reads, Feature.COUNTS in reads, Feature.LAST_DOSE in reads,
                         tuple(stage for stage in stages if Feature.OWN_STATE in stage.reads))

    @abstractmethod
    def fit(self, outcomes: Outcomes) -> Fit:
        """Fit the design up to this stage to ``outcomes``."""

    def fit_many(self, outcomes: Sequence[Outcomes]) -> list[Fit]:
        """The fits of many outcomes (a simulator's new states, a level of a dose-path tree), each as
        :meth:`fit` gives it; a stage that can share work between them overrides this."""
        return [self.fit(one) for one in outcomes]

    def _stamp(self, fit: Fit) -> Fit:
        fit.stage = self.kind
        fit.index = self.index
        return fit


@dataclass(frozen=True, kw_only=True)
class Behaviour(Selector):
    """A stage that adjusts the decision of the stages before it."""

    role: ClassVar[Role] = Role.BEHAVIOUR

    @property  # type: ignore[override]
    def num_doses(self) -> int | None:
        return self.parent.num_doses if self.parent is not None else None

    def fit(self, outcomes: Outcomes) -> Fit:
        assert self.parent is not None, "a behaviour always follows a core selector"
        return self._stamp(self.wrap(self.parent.fit(outcomes)))

    def fit_many(self, outcomes: Sequence[Outcomes]) -> list[Fit]:
        assert self.parent is not None, "a behaviour always follows a core selector"
        return [self._stamp(self.wrap(parent)) for parent in self.parent.fit_many(outcomes)]

    @abstractmethod
    def wrap(self, parent: Fit) -> DerivedFit:
        """This behaviour's fit around the fit of the stages before it."""


def require(condition: bool, field_name: str, problem: str) -> None:
    """Raise :class:`InputError` for ``field_name`` unless ``condition`` holds."""
    if not condition:
        raise InputError(field_name, problem)


def require_probability(value: float, field_name: str) -> None:
    require(0.0 < value < 1.0, field_name, f"{value} is not strictly between 0 and 1")


def require_dose_ref(dose: "int | str", field_name: str, allowed: tuple[str, ...]) -> None:
    if isinstance(dose, str):
        require(dose in allowed, field_name, f"{dose!r} is not one of {', '.join(allowed)} or a dose level")
    else:
        require(dose >= 1, field_name, f"dose level {dose} is not 1 or more")


_OUTCOME = attrgetter("dose", "toxicity", "efficacy", "phase")


def _outcome_counts(outcomes: Outcomes) -> frozenset[tuple[tuple[int, bool, bool | None, str], int]]:
    """How many patients had each (dose, toxicity, efficacy) in each phase: :attr:`Feature.COUNTS`."""
    return frozenset(Counter(map(_OUTCOME, outcomes.patients)).items())
