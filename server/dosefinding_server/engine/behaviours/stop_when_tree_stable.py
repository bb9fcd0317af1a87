"""The tree-based stopping rule (O'Quigley and Reiner 1998) as a design stage.

Stop once no outcomes of the next ``k`` patients, treated one at a time, can
change the recommended dose: every node of the 2^k tree of futures (each fitted
by the stages before this one) recommends today's dose.  Computed only while
the stages before would continue.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..fit import DerivedFit, Fit, dose_text
from ..registry import register
from ..selector import Behaviour, Feature, require
from ..stopping.tree import MAX_K, TreeStopping, tree_stopping
from ._common import BehaviourFit, require_count


@register
@dataclass(frozen=True, kw_only=True)
class StopWhenTreeStable(Behaviour):
    """Stop when the next ``k`` patients cannot change the recommendation."""

    kind: ClassVar[str] = "stop_when_tree_stable"
    reads: ClassVar[frozenset[Feature]] = frozenset()
    k: int

    def __post_init__(self) -> None:
        require_count(self.k, "k")
        require(self.k <= MAX_K, "k", f"{self.k} is more than {MAX_K}")

    def wrap(self, parent: Fit) -> DerivedFit:
        return StopWhenTreeStableFit(parent, self)


class StopWhenTreeStableFit(BehaviourFit[StopWhenTreeStable]):
    """The parent's fit, stopped once its recommendation is settled for the next k patients."""

    @cached_property
    def _tree(self) -> TreeStopping | None:
        if not self.parent.continues() or self.parent.recommended_dose() is None:
            return None
        assert self.rule.parent is not None
        return tree_stopping(self.rule.parent, self.outcomes, self.rule.k)

    def continues(self) -> bool:
        return self.parent.continues() and not (self._tree is not None and self._tree.stop)

    def explain(self) -> str:
        tree = self._tree
        if tree is None:
            return f"nothing to settle; {self.unchanged()}"
        reachable = ", ".join(map(str, tree.doses_reachable))
        if tree.stop:
            return (f"all {tree.nodes} futures of the next {self.rule.k} patients recommend "
                    f"{dose_text(tree.recommended_dose)}: stop")
        return f"the next {self.rule.k} patients could lead to doses {reachable}; {self.unchanged()}"
