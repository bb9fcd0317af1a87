"""The tree-based stopping rule (O'Quigley and Reiner 1998).

Treat the next k patients one at a time, each at the dose the design
recommends after the outcomes so far, and follow every one of the 2^k
toxicity sequences.  If every node of that tree recommends the current dose,
no outcome of the next k patients can change the recommendation, and the trial
can stop.  Enumeration is exact; k is bounded to keep a call cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..outcomes import Outcomes, Patient
from ..selector import Selector

MAX_K = 12


@dataclass(frozen=True, slots=True)
class TreeStopping:
    """The current recommendation, every dose some node recommends, and the verdict."""

    recommended_dose: int | None
    doses_reachable: tuple[int, ...]
    stop: bool
    nodes: int


def tree_stopping(design: Selector, outcomes: Outcomes, k: int) -> TreeStopping:
    """Evaluate the rule for the next ``k`` patients."""
    if not 1 <= k <= MAX_K:
        raise InputError("k", f"{k} is outside 1..{MAX_K}")
    root = design.fit(outcomes)
    current = root.recommended_dose()
    reachable: set[int] = set()
    nodes = 0
    stack = [(outcomes, root, 0)]
    while stack:
        node_outcomes, fit, depth = stack.pop()
        nodes += 1
        dose = fit.recommended_dose()
        if dose is not None:
            reachable.add(dose)
        if depth == k or dose is None or not fit.continues():
            continue
        for toxicity in (False, True):
            child = node_outcomes.extended([Patient(dose, toxicity)])
            stack.append((child, design.fit(child), depth + 1))
    return TreeStopping(
        recommended_dose=current,
        doses_reachable=tuple(sorted(reachable)),
        stop=reachable <= ({current} if current is not None else set()),
        nodes=nodes,
    )
