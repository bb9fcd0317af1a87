"""Dose paths, grown level by level over shared states, list exactly the tree of fitting every node afresh."""

from __future__ import annotations

import pytest

from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.outcomes import Outcomes, parse_outcome_string
from dosefinding_server.engine.paths import PathNode, cohort_outcomes, dose_paths
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.selector import Selector
from tests.simulation.catalogue import DESIGNS


def naive_paths(design: Selector, previous: Outcomes, sizes: list[int], next_dose: int | None) -> list[PathNode]:
    """Depth first, every node fitted from its own outcomes."""
    root = design.fit(previous)
    prefix = previous.to_string()
    nodes = [PathNode(1, None, 0, "", prefix, next_dose or root.recommended_dose(), root.continues())]

    def grow(outcomes: Outcomes, parent_id: int, pathway: str, dose: int | None, branches: bool, depth: int) -> None:
        if depth == len(sizes) or dose is None or not branches:
            return
        for label, cohort in cohort_outcomes(dose, sizes[depth]):
            child = outcomes.extended(cohort)
            fit = design.fit(child)
            path = f"{pathway} {label}" if pathway else label
            nodes.append(PathNode(len(nodes) + 1, parent_id, depth + 1, path, f"{prefix} {path}" if prefix else path,
                                  fit.recommended_dose(), fit.continues()))
            grow(child, len(nodes), path, fit.recommended_dose(), fit.continues(), depth + 1)

    grow(previous, 1, "", nodes[0].next_dose, root.continues() or next_dose is not None, 0)
    return nodes


@pytest.mark.parametrize("name", sorted(DESIGNS))
@pytest.mark.parametrize("previous, sizes, next_dose", [("", [3, 3], None), ("1NNN 2NTN", [2, 1, 2], None),
                                                        ("1NNN", [1, 1, 1], 2)])
def test_dose_paths_are_the_naive_tree(name: str, previous: str, sizes: list[int], next_dose: int | None) -> None:
    design = build_design(DESIGNS[name])
    outcomes = parse_outcome_string(previous, design.num_doses or 5) if previous else Outcomes()
    assert dose_paths(design, outcomes, sizes, next_dose) == naive_paths(design, outcomes, sizes, next_dose)


@pytest.mark.parametrize("next_dose", [0, 6])
def test_a_first_dose_outside_the_design_is_refused_by_its_own_field(next_dose: int) -> None:
    design = build_design([{"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25}])
    with pytest.raises(InputError) as caught:
        dose_paths(design, Outcomes(), [3], next_dose)
    assert [(v.field, v.description) for v in caught.value.violations] == [
        ("next_dose", f"dose {next_dose} is outside 1..5")]
