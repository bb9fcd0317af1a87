"""Every escalation reference case whose design uses one of escalation's behaviours, against R.

One test per case (id = the case id): the engine's answer must agree with
escalation 0.2.3 field by field, by the published judge's rules
(``validation.compare``).  The select_*_mtd behaviours are tested with their
own module; a case that also uses one of the behaviours here is tested here.
select_dose_by_cibp, whose R answer depends on the R call's seed, is tested
both with and without that seed in ``test_cibp``, with every case using it.
"""

from __future__ import annotations

from typing import Any

import pytest

from .reference import disagreements, escalation_actual, load_cases

BEHAVIOURS = frozenset({
    "dont_skip_doses", "stop_at_n", "stop_when_n_at_dose", "stop_when_tox_ci_covered",
    "stop_when_too_toxic", "demand_n_at_dose", "try_rescue_dose", "stick_on_num_tox",
    "unadmit_untested", "expand_last_dose_to_cohort",
})

CASES = [c for c in load_cases("escalation")
         if BEHAVIOURS & {s["stage"] for s in c["design"]}
         and "select_dose_by_cibp" not in {s["stage"] for s in c["design"]}]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_agrees_with_escalation(case: dict[str, Any]) -> None:
    assert disagreements(case, escalation_actual(case)) == []
