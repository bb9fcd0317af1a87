"""escalation's ``boin`` core and ``select_boin_mtd`` behaviour, and BOIN's input checks.

The reference part runs every published escalation case whose design is a
``boin`` core followed only by registered behaviours, and every case using
``select_boin_mtd`` after another core once that core is registered (more
cases join as the other stages land).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.fit import CoreFit
from dosefinding_server.engine.numerics.boin_boundary import boundary_at, get_boundary
from dosefinding_server.engine.numerics.boin_comb import next_comb, select_mtd_comb
from dosefinding_server.engine.numerics.boin_mtd import select_mtd
from dosefinding_server.engine.numerics.grid_quantile import GRID, grid_quantile
from dosefinding_server.engine.outcomes import Outcomes, parse_outcome_string
from dosefinding_server.engine.registry import build_design, stage_kinds
from dosefinding_server.engine.selector import Role

from .reference import disagreements, escalation_actual, escalation_cases


def boin_chain_cases() -> list[dict[str, Any]]:
    """Escalation cases with a ``boin`` core and only registered behaviours after it."""
    behaviours = {kind for kind, cls in stage_kinds().items() if cls.role is Role.BEHAVIOUR}
    return [
        case for case in escalation_cases()
        if case["design"][0]["stage"] == "boin" and {s["stage"] for s in case["design"][1:]} <= behaviours
    ]


@pytest.mark.parametrize("case", boin_chain_cases(), ids=lambda c: c["id"])
def test_escalation_reference(case: dict[str, Any]) -> None:
    assert disagreements(case, escalation_actual(case)) == []


def select_boin_mtd_on_other_cores() -> list[dict[str, Any]]:
    """Escalation cases using ``select_boin_mtd`` after another core, once all their stages exist."""
    kinds = set(stage_kinds())
    return [
        case for case in escalation_cases()
        if case["design"][0]["stage"] != "boin"
        and any(s["stage"] == "select_boin_mtd" for s in case["design"])
        and {s["stage"] for s in case["design"]} <= kinds
    ]


@pytest.mark.parametrize("case", select_boin_mtd_on_other_cores(), ids=lambda c: c["id"])
def test_select_boin_mtd_reference_on_other_cores(case: dict[str, Any]) -> None:
    assert disagreements(case, escalation_actual(case)) == []


def test_reference_covers_the_boin_designs() -> None:
    assert len(boin_chain_cases()) >= len(escalation_cases("boin", "select_boin_mtd")) > 150


def fit(design: list[dict[str, Any]], outcomes: str) -> Any:
    chain = build_design(design)
    return chain.fit(parse_outcome_string(outcomes, chain.num_doses))


BOIN_5 = {"stage": "boin", "num_doses": 5, "target": 0.3}


# Decisions and reasons ----------------------------------------------------------


def test_boin_reason_names_the_boundary() -> None:
    result = fit([BOIN_5], "1NNN 2NTN 2NNN")
    assert result.recommended_dose() == 3
    assert result.reason() == "BOIN at dose 2: 1/6 toxicities <= escalation boundary 1 (n=6): escalate to dose 3"


def test_boin_starts_at_dose_one() -> None:
    result = fit([BOIN_5], "")
    assert (result.recommended_dose(), result.continues()) == (1, True)
    assert result.mean_prob_tox() == (None,) * 5


def test_boin_stops_when_dose_one_is_eliminated() -> None:
    result = fit([BOIN_5], "1TTT")
    assert (result.recommended_dose(), result.continues()) == (None, False)
    assert result.dose_admissible() == (False,) * 5
    assert "elimination boundary 3" in result.reason()


def test_stop_when_deescalation_impossible() -> None:
    design = dict(BOIN_5, stop_when_deescalation_impossible=True)
    assert fit([design], "1NTT").recommended_dose() is None
    assert fit([BOIN_5], "1NTT").recommended_dose() == 1


def test_extrasafe_applies_boins_extra_safe_rule() -> None:
    """Documented deviation: escalation ignores extrasafe; BOIN stops on the lowest dose."""
    outcomes = "1TTN"
    assert fit([BOIN_5], outcomes).recommended_dose() == 1
    safe = fit([dict(BOIN_5, extrasafe=True, offset=0.2)], outcomes)
    assert (safe.recommended_dose(), safe.continues()) == (None, False)
    assert safe.warnings()


def test_grid_quantile_takes_the_first_closest_grid_value() -> None:
    table = [(1.0 - q, None) for q in GRID]
    assert grid_quantile(table, 0.5) == (0.5, None)
    assert grid_quantile([(0.5,)] * len(GRID), 0.5) == (0.0,)


# select_boin_mtd -------------------------------------------------------------------


def test_select_boin_mtd_finally_waits_for_the_trial_to_stop() -> None:
    result = fit([BOIN_5, {"stage": "select_boin_mtd"}], "1NNN 2NTT")
    assert (result.recommended_dose(), result.continues()) == (1, True)
    assert "waits for the trial to stop" in result.reason()


def test_select_boin_mtd_always_uses_boins_mtd() -> None:
    result = fit([BOIN_5, {"stage": "select_boin_mtd", "when": "always"}], "1NNN 2NTT")
    assert result.recommended_dose() == select_mtd(0.3, [3, 3, 0, 0, 0], [0, 2, 0, 0, 0]).mtd == 1


def test_select_boin_mtd_returns_no_dose_for_boins_99() -> None:
    result = fit([BOIN_5, {"stage": "select_boin_mtd", "when": "always"}], "1TTT")
    assert result.recommended_dose() is None


class _NoTargetFit(CoreFit):
    def recommended_dose(self) -> int | None:
        return 1

    def continues(self) -> bool:
        return False

    def reason(self) -> str:
        return "a core without a toxicity target"


def test_select_boin_mtd_needs_a_target() -> None:
    behaviour = build_design([BOIN_5, {"stage": "select_boin_mtd"}])
    with pytest.raises(InputError) as error:
        behaviour.wrap(_NoTargetFit(Outcomes(), 5))  # type: ignore[attr-defined]
    assert error.value.violations[0].field == "design.stages[1].select_boin_mtd.target"


@pytest.mark.parametrize("params, field", [
    ({"when": "sometimes"}, "when"),
    ({"target": 1.2}, "target"),
])
def test_select_boin_mtd_validation(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as error:
        build_design([BOIN_5, {"stage": "select_boin_mtd", **params}])
    assert error.value.violations[0].field == f"design.stages[1].select_boin_mtd.{field}"


# Input validation ------------------------------------------------------------------


@pytest.mark.parametrize("params, field", [
    ({"target": 0.04}, "target"),
    ({"target": 0.61}, "target"),
    ({"p_saf": 0.29}, "p_saf"),
    ({"p_saf": 0.35}, "p_saf"),
    ({"p_tox": 0.31}, "p_tox"),
    ({"p_tox": 0.2}, "p_tox"),
    ({"cutoff_eli": 1.0}, "cutoff_eli"),
    ({"offset": 0.5}, "offset"),
    ({"num_doses": 0}, "num_doses"),
    ({"num_doses": 2.5}, "num_doses"),
    ({"use_stopping_rule": "yes"}, "use_stopping_rule"),
    ({"target": "0.3"}, "target"),
])
def test_boin_stage_validation(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as error:
        build_design([dict(BOIN_5, **params)])
    assert error.value.violations[0].field == f"design.stages[0].boin.{field}"


def test_boin_refuses_doses_outside_the_design() -> None:
    design = build_design([BOIN_5])
    with pytest.raises(InputError):
        design.fit(parse_outcome_string("6NNN"))


@pytest.mark.parametrize("params, field", [
    ({"target": 0.7}, "target"),
    ({"p_saf": 0.3}, "p_saf"),
    ({"p_tox": 0.3}, "p_tox"),
    ({"offset": 0.6}, "offset"),
    ({"ncohort": 1, "cohortsize": 1}, "ncohort"),
    ({"n_earlystop": 1}, "n_earlystop"),
    ({"n_earlystop": 2, "cohortsize": 3}, "n_earlystop"),
])
def test_get_boundary_validation(params: dict[str, Any], field: str) -> None:
    arguments = {"target": 0.3, "ncohort": 10, "cohortsize": 3, **params}
    with pytest.raises(InputError) as error:
        get_boundary(**arguments)
    assert error.value.violations[0].field == field


def test_boundary_at_agrees_with_the_table() -> None:
    table = get_boundary(0.25, 10, 3, p_saf=0.15, p_tox=0.35, cutoff_eli=0.9)
    assert all(boundary_at(r.n, 0.25, 0.15, 0.35, 0.9) == r for r in table.rows)


@pytest.mark.parametrize("npts, ntox, field", [
    ([3, 3], [0], "ntox"),
    ([3, 3], [0, 4], "ntox[1]"),
    ([3, -1], [0, 0], "npts[1]"),
    ([], [], "npts"),
])
def test_select_mtd_validation(npts: list[int], ntox: list[int], field: str) -> None:
    with pytest.raises(InputError) as error:
        select_mtd(0.3, npts, ntox)
    assert error.value.violations[0].field == field


def test_select_mtd_places_intervals_at_their_own_dose() -> None:
    """R prints the k-th tested dose's interval at dose k; each interval belongs to its dose here."""
    result = select_mtd(0.3, [0, 6], [0, 1])
    assert result.p_est[0].ci_low is None
    assert result.p_est[1].ci_low is not None and result.p_est[1].ci_high is not None


def test_next_comb_refuses_an_untreated_current_combination() -> None:
    with pytest.raises(InputError) as error:
        next_comb(0.3, [[3, 0], [0, 0]], [[0, 0], [0, 0]], [2, 2], rng=np.random.default_rng(1))
    assert error.value.violations[0].field == "dose_curr"


def test_select_mtd_comb_refuses_more_rows_than_columns() -> None:
    with pytest.raises(InputError) as error:
        select_mtd_comb(0.3, [[3, 0], [3, 0], [0, 0]], [[0, 0], [0, 0], [0, 0]])
    assert error.value.violations[0].field == "npts"


# next_comb tie breaking ------------------------------------------------------------

TIED: dict[str, Any] = {"target": 0.3, "npts": [[3, 0, 0], [0, 0, 0]], "ntox": [[0, 0, 0], [0, 0, 0]],
                        "dose_curr": [1, 1]}


def test_next_comb_tie_is_deterministic_for_a_seed() -> None:
    answers = [next_comb(**TIED, rng=np.random.default_rng(seed)).next_dc for seed in range(20)]
    again = [next_comb(**TIED, rng=np.random.default_rng(seed)).next_dc for seed in range(20)]
    assert answers == again


def test_next_comb_tie_answers_among_candidates() -> None:
    seen = set()
    for seed in range(40):
        result = next_comb(**TIED, rng=np.random.default_rng(seed))
        assert result.random_tie
        assert set(result.candidates) == {(1, 2), (2, 1)}
        assert result.next_dc in result.candidates
        seen.add(result.next_dc)
    assert seen == {(1, 2), (2, 1)}


def test_next_comb_without_tie_ignores_the_seed() -> None:
    untied = dict(TIED, npts=[[3, 3, 3], [0, 0, 0]], dose_curr=[1, 2])
    answers = {next_comb(**untied, rng=np.random.default_rng(seed)).next_dc for seed in range(10)}
    assert len(answers) == 1
