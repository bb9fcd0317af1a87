"""Dose-transition pathways: every future path of cohorts from the current outcomes.

Each cohort of size c at the recommended dose branches into c + 1 outcomes
(N...N, N...NT, ..., T...T; escalation's ``get_dose_paths``).  A node has
children only while its fit continues (the root also when the caller fixes its
next dose).  Nodes are listed depth first.

Identical subtrees are shared: outcomes with the same sufficient state
(:meth:`Selector.state_key`) have the same future, so the tree is first grown
level by level over distinct (state, depth) pairs, each distinct state fitted
once and the new states of a level together (:meth:`Selector.fit_many`); the
nodes are then listed by walking those pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Hashable, Sequence

from .errors import InputError
from .outcomes import Outcomes, Patient
from .selector import Selector

MAX_NODES = 200_000


@dataclass(frozen=True, slots=True)
class PathNode:
    """One node of the tree: the outcomes after the root, and the decision there."""

    node_id: int
    parent_id: int | None
    depth: int
    pathway: str
    outcomes: str
    next_dose: int | None
    continues: bool


@lru_cache(maxsize=256)
def cohort_outcomes(dose: int, size: int) -> tuple[tuple[str, tuple[Patient, ...]], ...]:
    """The c + 1 distinguishable outcomes of a cohort, fewest toxicities first, each with its label."""
    outcomes = [tuple(Patient(dose, i >= size - tox) for i in range(size)) for tox in range(size + 1)]
    return tuple((f"{dose}" + "".join("T" if p.toxicity else "N" for p in cohort), cohort) for cohort in outcomes)


def count_nodes_bound(cohort_sizes: Sequence[int]) -> int:
    """The number of nodes in a full tree (an upper bound on any tree)."""
    total, width = 1, 1
    for size in cohort_sizes:
        width *= size + 1
        total += width
    return total


class _Tree:
    """One tree over distinct (state, depth) pairs: the cohorts below each pair and the decision at each
    state."""

    def __init__(self, design: Selector, cohort_sizes: Sequence[int]) -> None:
        self.design = design
        self.cohort_sizes = tuple(cohort_sizes)
        self.decisions: dict[Hashable, tuple[int | None, bool]] = {}
        #: (key, depth) -> the cohorts below a node with that key at that depth: (label, child's key)
        self.branches: dict[tuple[Hashable, int], list[tuple[str, Hashable]]] = {}

    def decide(self, states: dict[Hashable, Outcomes]) -> None:
        """The decision at each state not decided yet, from one :meth:`Selector.fit_many`."""
        new = [(key, outcomes) for key, outcomes in states.items() if key not in self.decisions]
        for (key, _), fit in zip(new, self.design.fit_many([outcomes for _, outcomes in new])):
            self.decisions[key] = (fit.recommended_dose(), fit.continues())

    def grow(self, root: Outcomes, root_key: Hashable, dose: int | None, branches: bool) -> None:
        """Every level below the root, each level's new states decided together.  The root branches at
        ``dose`` if ``branches``; any other node at its own decision, while that continues.  A child's
        key comes from its parent's (:meth:`Selector.key_after`) where the design allows, so that only
        states not met yet are built."""
        level: dict[Hashable, tuple[Outcomes, int | None, bool]] = {root_key: (root, dose, branches)}
        for depth, size in enumerate(self.cohort_sizes):
            reached: dict[Hashable, Outcomes] = {}
            for key, (outcomes, next_dose, goes_on) in level.items():
                if next_dose is None or not goes_on:
                    continue
                below = self.branches[(key, depth)] = []
                for label, cohort in cohort_outcomes(next_dose, size):
                    child_key = self.design.key_after(key, cohort)
                    if child_key is None:
                        child = outcomes.extended(cohort)
                        child_key = self.design.state_key(child)
                        reached.setdefault(child_key, child)
                    elif child_key not in reached:
                        reached[child_key] = outcomes.extended(cohort)
                    below.append((label, child_key))
            self.decide(reached)
            level = {key: (child, *self.decisions[key]) for key, child in reached.items()}

    def listed(self, root_key: Hashable, prefix: str, nodes: list[PathNode]) -> list[PathNode]:
        """``nodes`` (the root's) followed by every node below the root, depth first."""
        stack = [(child, 1, 1, label) for label, child in reversed(self.branches.get((root_key, 0), []))]
        while stack:
            key, depth, parent_id, pathway = stack.pop()
            node_id = len(nodes) + 1
            nodes.append(PathNode(node_id, parent_id, depth, pathway, f"{prefix} {pathway}" if prefix else pathway,
                                  *self.decisions[key]))
            stack.extend((child, depth + 1, node_id, f"{pathway} {label}")
                         for label, child in reversed(self.branches.get((key, depth), [])))
        return nodes


def dose_paths(
    design: Selector,
    previous: Outcomes,
    cohort_sizes: Sequence[int],
    next_dose: int | None = None,
) -> list[PathNode]:
    """Every node of the dose-path tree, depth first from the root."""
    for index, size in enumerate(cohort_sizes):
        if size < 1:
            raise InputError(f"cohort_sizes[{index}]", f"cohort size {size} is not 1 or more")
    if next_dose is not None and not 1 <= next_dose <= (design.num_doses or next_dose):
        raise InputError("next_dose", f"dose {next_dose} is outside 1..{design.num_doses}")
    if count_nodes_bound(cohort_sizes) > MAX_NODES:
        raise InputError("cohort_sizes", f"the tree could exceed {MAX_NODES} nodes; ask for fewer cohorts")
    tree = _Tree(design, cohort_sizes)
    root_key = design.state_key(previous)
    tree.decide({root_key: previous})
    dose, continues = tree.decisions[root_key]
    root_dose = next_dose if next_dose is not None else dose
    tree.grow(previous, root_key, root_dose, continues or next_dose is not None)
    prefix = previous.to_string()
    return tree.listed(root_key, prefix, [PathNode(1, None, 0, "", prefix, root_dose, continues)])
