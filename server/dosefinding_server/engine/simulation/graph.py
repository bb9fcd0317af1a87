"""The memoised state graph that simulated trials walk: one decision per distinct sufficient state.

A simulated trial is a walk: after each cohort the design is fitted to all
outcomes so far and names the next dose.  Most designs depend on the
outcomes only through a small sufficient state (per-dose counts, the dose
given last; :meth:`..selector.Selector.state_key`), so thousands of trials
pass through a few thousand distinct states.  The graph holds one node per
distinct key, with the decision there, and the transitions seen so far
from a node under a cohort's outcomes (and those of any patients treated
alongside the cohort, e.g. backfill patients); each decision is computed
once, from the first state that reaches its key, and the new states that
one step of the walk reaches are decided together (:meth:`Rule.steps`).
Because the key is sufficient (equal keys, equal decisions; still equal
once the same patients are added), which trial first reaches a key cannot
change any result: trials agree with fitting each of them from scratch,
however they are split into chunks or batched.

A :class:`Rule` says how to key and decide; the graph only memoises.  One
graph per rule is kept per process (:func:`graph_for`) and reused by every
chunk that process runs; a lock serialises chunks that share it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Hashable, Sequence

import numpy as np


#: graphs kept per process (least recently used first out)
GRAPHS_PER_PROCESS = 4


@dataclass(frozen=True, slots=True)
class Step:
    """The decision at a state: the next dose (``None``: none), whether to go on, who stopped it, and the
    model's parameter estimate there (for rules that report it)."""

    dose: int | None
    continues: bool
    stopped_by: Hashable = None
    estimate: float | None = None


#: a cohort: its dose and each patient's (toxicity, efficacy) in order (efficacy ``None`` when not read)
Cohort = tuple[int, tuple[tuple[bool, bool | None], ...]]


class Rule(ABC):
    """How a simulated design represents, keys and decides its states (hashable: it names its graph).

    A state is whatever the rule needs to decide (the outcomes so far, or
    just counts); :meth:`key` must be sufficient: states with equal keys get
    equal steps, and still have equal keys once the same cohort is added.
    """

    #: number of dose levels
    num_doses: int
    #: whether patients carry an efficacy outcome that the rule reads
    efficacy: bool
    #: whether the rule's states ignore the order of patients within a cohort
    exchangeable: bool

    @abstractmethod
    def initial(self) -> Any:
        """The state before any patient."""

    @abstractmethod
    def extend(self, state: Any, cohort: Cohort) -> Any:
        """The state after ``cohort``."""

    def extend_alongside(self, state: Any, cohort: Cohort, alongside: tuple[int, ...]) -> Any:
        """The state after ``cohort`` and the patients treated alongside it, coded by the rule's simulator
        (only rules that simulate such patients, e.g. backfill, define it)."""
        raise NotImplementedError(f"{type(self).__name__} treats no patients alongside its cohorts")

    @abstractmethod
    def key(self, state: Any) -> Hashable:
        """A sufficient key of ``state`` for this rule."""

    def key_after(self, state: Any, key: Hashable, cohort: Cohort) -> Hashable | None:
        """The key of the state after ``cohort``, from ``state`` and its ``key`` without building that state,
        or ``None`` when the rule cannot tell it so (then the graph extends the state and keys it)."""
        return None

    @abstractmethod
    def steps(self, states: Sequence[Any]) -> list[Step]:
        """The decision at each of ``states``: the new states of a step of the walk, decided together (a
        rule may share work between them, but each decision must be the one its state gets alone)."""


class _Column:
    """A growable numpy column (amortised doubling), so that a step can gather decisions by node id."""

    def __init__(self, dtype: type) -> None:
        self.values = np.zeros(64, dtype=dtype)
        self.size = 0

    def append(self, value: object) -> None:
        if self.size == len(self.values):
            self.values = np.concatenate([self.values, np.zeros_like(self.values)])
        self.values[self.size] = value
        self.size += 1


class StateGraph:
    """Nodes (distinct states with their decisions) and the transitions between them."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.lock = threading.Lock()
        self._by_key: dict[Hashable, int] = {}
        self.states: list[Any] = []
        self.keys: list[Hashable] = []
        self.steps: list[Step] = []
        self._dose = _Column(np.int32)  # 0 = no dose
        self._goes_on = _Column(np.bool_)  # continues and names a dose
        self._transitions: dict[tuple[int, tuple[int, ...]], int] = {}
        #: memoised functions of nodes that a simulator derives from their states (e.g. open backfill doses)
        self.derived: dict[Hashable, Any] = {}
        self.root = self.node(rule.initial())

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def dose(self) -> np.ndarray:
        """The next dose at each node (0 for none)."""
        return self._dose.values

    @property
    def goes_on(self) -> np.ndarray:
        """Whether the trial goes on from each node (it continues and names a dose)."""
        return self._goes_on.values

    def node(self, state: Any) -> int:
        """The node of ``state``'s key, decided from ``state`` if it is new."""
        return self.nodes([state])[0]

    def nodes(self, states: Sequence[Any], keys: Sequence[Hashable | None] | None = None) -> list[int]:
        """The node of each state's key (``keys``, where known, saves computing it); the states with new
        keys are decided together, each once (from the first state with its key), and numbered in order
        of first appearance."""
        keys = [self.rule.key(state) if key is None else key
                for state, key in zip(states, keys if keys is not None else [None] * len(states))]
        new: dict[Hashable, Any] = {}
        for key, state in zip(keys, states):
            if key not in self._by_key:
                new.setdefault(key, state)
        for (key, state), step in zip(new.items(), self.rule.steps(list(new.values()))):
            self._by_key[key] = len(self.steps)
            self.states.append(state)
            self.keys.append(key)
            self.steps.append(step)
            self._dose.append(step.dose or 0)
            self._goes_on.append(step.continues and step.dose is not None)
        return [self._by_key[key] for key in keys]

    def advance(self, nodes: np.ndarray, doses: np.ndarray, tox: np.ndarray, eff: np.ndarray | None,
                alongside: np.ndarray | None = None) -> np.ndarray:
        """The node each trial reaches after a cohort at ``doses`` with outcomes ``tox`` (and ``eff``), and
        the patients treated alongside it (``alongside``: the rule's codes, trials × arrivals, 0 for none).

        ``tox`` and ``eff`` are boolean (trials × cohort size).  New states
        are decided here, each once, all together.
        """
        codes = _cohort_codes(doses, tox, eff, self.rule.exchangeable)
        if alongside is None:  # one code per trial: the faster one-dimensional unique
            distinct_codes, code_index = np.unique(codes, return_inverse=True)
            distinct_codes = distinct_codes[:, None]
        else:
            rows = np.hstack([codes[:, None], np.sort(alongside, axis=1) if self.rule.exchangeable else alongside])
            distinct_codes, code_index = np.unique(rows, axis=0, return_inverse=True)
        pairs = nodes.astype(np.int64) * len(distinct_codes) + code_index.reshape(-1)
        distinct_pairs, pair_index = np.unique(pairs, return_inverse=True)
        labels = [tuple(row) for row in distinct_codes.tolist()]
        from_nodes, label_index = np.divmod(distinct_pairs, len(labels))
        transitions = list(zip(from_nodes.tolist(), map(labels.__getitem__, label_index.tolist())))
        children = np.array(self._children(transitions, tox.shape[1], alongside is not None), dtype=np.int64)
        return children[pair_index]

    def _children(self, transitions: list[tuple[int, tuple[int, ...]]], size: int, alongside: bool) -> list[int]:
        """The node each transition (node, cohort label) leads to.  An unseen transition is keyed from its
        node's key when the rule can (:meth:`Rule.key_after`), so that only states with new keys are built,
        each once; the new states are then decided together (:meth:`nodes`)."""
        children: list[int | None] = list(map(self._transitions.get, transitions))
        unseen: list[tuple[int, tuple[int, tuple[int, ...]], int]] = []  # (position, transition, new state)
        reached: list[Any] = []
        reached_keys: list[Hashable | None] = []
        pending: dict[Hashable, int] = {}  # known keys of the states reached, by position in reached
        for position in [position for position, child in enumerate(children) if child is None]:
            node, label = transition = transitions[position]
            cohort = _cohort(label[0], size, self.rule.efficacy, self.rule.exchangeable)
            state = self.states[node]
            key = None if alongside else self.rule.key_after(state, self.keys[node], cohort)
            child = None if key is None else self._by_key.get(key)
            if child is not None:
                children[position] = self._transitions[transition] = child
                continue
            index = None if key is None else pending.get(key)
            if index is None:
                index = len(reached)
                reached.append(self.rule.extend_alongside(state, cohort, label[1:]) if alongside
                               else self.rule.extend(state, cohort))
                reached_keys.append(key)
                if key is not None:
                    pending[key] = index
            unseen.append((position, transition, index))
        found = self.nodes(reached, reached_keys)
        for position, transition, index in unseen:
            children[position] = self._transitions[transition] = found[index]
        return children  # type: ignore[return-value]  # each None (an unseen transition) was replaced


# A cohort's outcomes packed into one integer: the dose, then, when the order within the cohort matters,
# one toxicity bit and one efficacy bit per patient, or, when it does not, the count of each outcome.

def _cohort_codes(doses: np.ndarray, tox: np.ndarray, eff: np.ndarray | None, exchangeable: bool) -> np.ndarray:
    size = tox.shape[1]
    both = eff is not None
    if exchangeable:
        base = size + 1
        if both:
            assert eff is not None
            pattern = (((tox & eff).sum(1) * base + (tox & ~eff).sum(1)) * base + (~tox & eff).sum(1))
            width = base**3
        else:
            pattern, width = tox.sum(1), base
    else:
        weights = 1 << np.arange(size, dtype=np.int64)
        pattern = tox @ weights + ((eff @ weights) << size if both else 0)
        width = 1 << (2 * size if both else size)
    return doses.astype(np.int64) * width + pattern


@lru_cache(maxsize=None)
def _cohort(code: int, size: int, efficacy: bool, exchangeable: bool) -> Cohort:
    """The cohort a code stands for (for exchangeable codes, in one canonical order); once per code, as a
    simulation meets each code many times and the codes are few (doses × outcome patterns)."""
    outcomes: list[tuple[bool, bool | None]]
    if exchangeable:
        base = size + 1
        if efficacy:
            dose, pattern = divmod(code, base**3)
            both, rest = divmod(pattern, base**2)
            tox_only, eff_only = divmod(rest, base)
            neither = size - both - tox_only - eff_only
            outcomes = [(False, False)] * neither + [(False, True)] * eff_only + \
                [(True, False)] * tox_only + [(True, True)] * both
        else:
            dose, toxicities = divmod(code, base)
            outcomes = [(False, None)] * (size - toxicities) + [(True, None)] * toxicities
    else:
        dose, pattern = divmod(code, 1 << (2 * size if efficacy else size))
        outcomes = [(bool(pattern >> j & 1), bool(pattern >> (size + j) & 1) if efficacy else None)
                    for j in range(size)]
    return dose, tuple(outcomes)


_graphs: OrderedDict[Rule, StateGraph] = OrderedDict()
_graphs_lock = threading.Lock()


def graph_for(rule: Rule) -> StateGraph:
    """This process's graph for ``rule``, kept across chunks and calls (a few graphs at most)."""
    with _graphs_lock:
        graph = _graphs.get(rule)
        if graph is None:
            graph = _graphs[rule] = StateGraph(rule)
            while len(_graphs) > GRAPHS_PER_PROCESS:
                _graphs.popitem(last=False)
        _graphs.move_to_end(rule)
        return graph
