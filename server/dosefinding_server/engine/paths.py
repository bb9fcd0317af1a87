"""Dose-transition pathways: every future path of cohorts from the current outcomes.

Each cohort of size c at the recommended dose branches into c + 1 outcomes
(N...N, N...NT, ..., T...T; escalation's ``get_dose_paths``).  A node has
children only while its fit continues (the root also when the caller fixes its
next dose).  Nodes are listed depth first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import InputError
from .fit import Fit
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
    nodes: list[PathNode] = []
    previous_len = previous.num_patients

    def visit(outcomes: Outcomes, fit: Fit, parent_id: int | None, depth: int, dose: int | None) -> None:
        node_id = len(nodes) + 1
        pathway = Outcomes(outcomes.patients[previous_len:]).to_string()
        nodes.append(PathNode(node_id, parent_id, depth, pathway, outcomes.to_string(), dose, fit.continues()))
        branches = depth == 0 and next_dose is not None or fit.continues()
        if depth == len(cohort_sizes) or dose is None or not branches:
            return
        for cohort in cohort_outcomes(dose, cohort_sizes[depth]):
            child = outcomes.extended(cohort)
            child_fit = design.fit(child)
            visit(child, child_fit, node_id, depth + 1, child_fit.recommended_dose())

    root = design.fit(previous)
    visit(previous, root, None, 0, next_dose if next_dose is not None else root.recommended_dose())
    return nodes
