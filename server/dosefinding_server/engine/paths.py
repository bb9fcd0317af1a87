"""Dose-transition pathways: every future path of cohorts from the current outcomes.

Each cohort of size c at the recommended dose branches into c + 1 outcomes
(N...N, N...NT, ..., T...T; escalation's ``get_dose_paths``).  A node has
children only while its fit continues (the root also when the caller fixes its
next dose).  Nodes are listed depth first.

Identical subtrees are shared: outcomes with the same sufficient state
(:meth:`Selector.state_key`) have the same future, so the subtree below a
(state, depth) pair is built once, with pathways relative to its root, and
copied wherever that pair recurs; each distinct state is fitted once.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Relative:
    """A node of a shared subtree: cohorts below the subtree's root, parent index, decision."""

    cohorts: tuple[str, ...]
    parent: int | None
    next_dose: int | None
    continues: bool


def cohort_outcomes(dose: int, size: int) -> list[list[Patient]]:
    """The c + 1 distinguishable outcomes of a cohort, fewest toxicities first."""
    return [[Patient(dose, i >= size - tox) for i in range(size)] for tox in range(size + 1)]


def count_nodes_bound(cohort_sizes: Sequence[int]) -> int:
    """The number of nodes in a full tree (an upper bound on any tree)."""
    total, width = 1, 1
    for size in cohort_sizes:
        width *= size + 1
        total += width
    return total


class _Tree:
    """Builds one tree, sharing subtrees and fits by sufficient state."""

    def __init__(self, design: Selector, cohort_sizes: Sequence[int]) -> None:
        self.design = design
        self.cohort_sizes = tuple(cohort_sizes)
        self.decisions: dict[Hashable, tuple[int | None, bool]] = {}
        self.subtrees: dict[tuple[Hashable, int], list[_Relative]] = {}

    def decision(self, outcomes: Outcomes, key: Hashable) -> tuple[int | None, bool]:
        found = self.decisions.get(key)
        if found is None:
            fit = self.design.fit(outcomes)
            found = self.decisions[key] = (fit.recommended_dose(), fit.continues())
        return found

    def below(self, outcomes: Outcomes, depth: int, dose: int | None, branches: bool) -> list[_Relative]:
        """The descendants of a node (not the node itself), relative to it."""
        if depth == len(self.cohort_sizes) or dose is None or not branches:
            return []
        nodes: list[_Relative] = []
        for cohort in cohort_outcomes(dose, self.cohort_sizes[depth]):
            label = f"{dose}" + "".join("T" if p.toxicity else "N" for p in cohort)
            child = outcomes.extended(cohort)
            key = self.design.state_key(child)
            here = len(nodes)
            nodes.append(_Relative((label,), None, *self.decision(child, key)))
            nodes.extend(_Relative((label, *n.cohorts), here + 1 + n.parent if n.parent is not None else here,
                                   n.next_dose, n.continues)
                         for n in self.subtree(child, key, depth + 1))
        return nodes

    def subtree(self, outcomes: Outcomes, key: Hashable, depth: int) -> list[_Relative]:
        shared = self.subtrees.get((key, depth))
        if shared is None:
            dose, continues = self.decision(outcomes, key)
            shared = self.subtrees[(key, depth)] = self.below(outcomes, depth, dose, continues)
        return shared


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
    if count_nodes_bound(cohort_sizes) > MAX_NODES:
        raise InputError("cohort_sizes", f"the tree could exceed {MAX_NODES} nodes; ask for fewer cohorts")
    tree = _Tree(design, cohort_sizes)
    dose, continues = tree.decision(previous, design.state_key(previous))
    root_dose = next_dose if next_dose is not None else dose
    prefix = previous.to_string()
    nodes = [PathNode(1, None, 0, "", prefix, root_dose, continues)]
    for relative in tree.below(previous, 0, root_dose, continues or next_dose is not None):
        pathway = " ".join(relative.cohorts)
        nodes.append(PathNode(
            node_id=len(nodes) + 1,
            parent_id=1 if relative.parent is None else relative.parent + 2,
            depth=len(relative.cohorts),
            pathway=pathway,
            outcomes=f"{prefix} {pathway}" if prefix else pathway,
            next_dose=relative.next_dose,
            continues=relative.continues,
        ))
    return nodes
