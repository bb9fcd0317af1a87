"""The decision table of any design; for BOIN it must be Liu and Yuan's boundary table."""

from __future__ import annotations

import pytest

from dosefinding_server.engine.decision_table import Action, decision_table
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.numerics.boin_boundary import get_boundary
from dosefinding_server.engine.registry import build_design


@pytest.mark.parametrize("target", [0.2, 0.25, 0.3])
def test_boins_table_is_its_boundary_table(target):
    design = build_design([{"stage": "boin", "num_doses": 5, "target": target}])
    boundaries = get_boundary(target, ncohort=12, cohortsize=1)
    for row, bound in zip(decision_table(design, dose=3, max_n=12), boundaries.rows):
        assert row.escalate_if_le == bound.escalate_if_le
        assert row.deescalate_if_ge == bound.deescalate_if_ge
        assert row.eliminate_if_ge == bound.eliminate_if_ge


def test_every_count_of_toxicities_has_a_decision():
    design = build_design([{"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.4, 0.55], "target": 0.25}])
    rows = decision_table(design, dose=2, max_n=6)
    assert [len(r.cells) for r in rows] == [n + 1 for n in range(1, 7)]
    assert rows[5].cells[6].action in (Action.DEESCALATE, Action.STOP, Action.ELIMINATE)


def test_a_dose_outside_the_design_names_the_field():
    design = build_design([{"stage": "boin", "num_doses": 5, "target": 0.3}])
    with pytest.raises(InputError) as caught:
        decision_table(design, dose=6, max_n=3)
    assert caught.value.violations[0].field == "dose"
