"""BOIN's numerical routines against every published R case (BOIN 2.7.2).

One test per case of the families ``boin_get_boundary``, ``boin_select_mtd``,
``boin_next_comb`` and ``boin_select_mtd_comb`` (FORMAT.md sections 4.3–4.6):
each result is written in the case's ``expected`` keys and judged by the
published comparison rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dosefinding_server.engine.numerics.boin_boundary import get_boundary
from dosefinding_server.engine.numerics.boin_comb import next_comb, select_mtd_comb
from dosefinding_server.engine.numerics.boin_mtd import select_mtd

from .reference import disagreements, load_cases

#: Seeds under which every next_comb answer must be one R allows.
NEXT_COMB_SEEDS = range(8)


def _cases(family: str) -> Any:
    return pytest.mark.parametrize("case", load_cases(family), ids=lambda c: c["id"])


def _r_arguments(case: dict[str, Any]) -> dict[str, Any]:
    """The case's inputs under this package's argument names (R's ``boundMTD`` → ``bound_mtd``)."""
    arguments = dict(case["input"])
    if "boundMTD" in arguments:
        arguments["bound_mtd"] = arguments.pop("boundMTD")
    return arguments


def boundary_actual(case: dict[str, Any]) -> dict[str, Any]:
    result = get_boundary(**case["input"])
    actual: dict[str, Any] = {
        "lambda_e": result.lambda_e,
        "lambda_d": result.lambda_d,
        "table": [
            {"n": r.n, "escalate_if_le": r.escalate_if_le, "deescalate_if_ge": r.deescalate_if_ge,
             "eliminate_if_ge": r.eliminate_if_ge}
            for r in result.rows
        ],
        "boundary_tab_n": list(result.boundary_tab_n),
    }
    if result.stop_rows is not None:
        actual["cutoff"] = result.cutoff
        actual["stop_boundary"] = [{"n": r.n, "stop_if_ge": r.stop_if_ge} for r in result.stop_rows]
    return actual


def select_mtd_actual(case: dict[str, Any]) -> dict[str, Any]:
    result = select_mtd(**_r_arguments(case))
    return {
        "mtd": result.mtd,
        "p_est": [{"dose": e.dose, "phat": e.phat, "ci_low": e.ci_low, "ci_high": e.ci_high}
                  for e in result.p_est],
        "p_overdose": list(result.p_overdose),
    }


def next_comb_actual(case: dict[str, Any], seed: int) -> dict[str, Any]:
    result = next_comb(**case["input"], rng=np.random.default_rng(seed))
    as_r = [[None, None] if c is None else list(c) for c in result.candidates]
    return {
        "next_dc": as_r[result.candidates.index(result.next_dc)],
        "next_dc_possible": as_r,
        "random_tie": result.random_tie,
    }


def select_mtd_comb_actual(case: dict[str, Any]) -> dict[str, Any]:
    result = select_mtd_comb(**_r_arguments(case))
    return {"MTD": [list(c) for c in result.mtd], "p_est": [list(row) for row in result.p_est]}


@_cases("boin_get_boundary")
def test_get_boundary(case: dict[str, Any]) -> None:
    assert disagreements(case, boundary_actual(case)) == []


@_cases("boin_select_mtd")
def test_select_mtd(case: dict[str, Any]) -> None:
    assert disagreements(case, select_mtd_actual(case)) == []


@_cases("boin_next_comb")
def test_next_comb(case: dict[str, Any]) -> None:
    expected = case["expected"]
    for seed in NEXT_COMB_SEEDS:
        actual = next_comb_actual(case, seed)
        assert disagreements(case, actual) == []
        assert sorted(map(str, actual["next_dc_possible"])) == sorted(map(str, expected["next_dc_possible"]))
        assert actual["random_tie"] == expected["random_tie"]


@_cases("boin_select_mtd_comb")
def test_select_mtd_comb(case: dict[str, Any]) -> None:
    assert disagreements(case, select_mtd_comb_actual(case)) == []
