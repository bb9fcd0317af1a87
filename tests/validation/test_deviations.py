"""Documented deviations: which cases they touch, and that OQ never counts those as passes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from validation import deviations
from validation.installation import REFERENCE_DIR


def _case(case_id: str, family: str = "escalation") -> dict[str, Any]:
    with open(REFERENCE_DIR / f"{family}.jsonl", encoding="utf-8") as handle:
        return next(c for c in map(json.loads, handle) if c["id"] == case_id)


def _ids(case: dict[str, Any]) -> list[str]:
    return [a.id for a in deviations.applied(case)]


def test_r_defects_are_deviations_but_provenance_only_fields_are_not() -> None:
    assert _ids(_case("esc-p-00005")) == ["r-defect:escalation:prob_tox_quantile",
                                          "r-defect:escalation:median_prob_tox"]
    assert _ids(_case("sel-p-00001", "boin_select_mtd")) == []
    assert _ids(_case("sel-p-00005", "boin_select_mtd")) == ["r-defect:boin_select_mtd:p_est[].ci_low/ci_high"]


def test_the_seed_artefact_case_is_a_cibp_deviation_whose_default_mode_differs() -> None:
    case = _case("esc-p-00210")
    assert "cibp-r-seed" in _ids(case)
    alternative = deviations.BY_ID["cibp-r-seed"].alternative(case)  # type: ignore[misc]
    assert not alternative["r_call"].startswith("set.seed") and alternative["design"] == case["design"]


def test_boin_deescalation_on_a_whole_lambda_times_n_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"id": "x", "family": "boin_get_boundary", "r_call": "",
             "expected": {"lambda_d": 0.25, "table": [{"n": n} for n in range(1, 9)]}}
    assert [a.fields for a in deviations.applied(table)] == [
        ("table[n=4].deescalate_if_ge", "table[n=8].deescalate_if_ge")]
    five_at_dose_2 = {"id": "y", "family": "escalation", "r_call": "", "outcomes": "1NNN 2NNT 1NN 2TT",
                      "design": [{"stage": "boin", "num_doses": 3, "target": 0.3}]}
    monkeypatch.setattr(deviations, "_deescalation_boundary", lambda target, p_tox: 0.4)
    assert _ids(five_at_dose_2) == ["boin-deescalation-whole-number"]
    monkeypatch.setattr(deviations, "_deescalation_boundary", lambda target, p_tox: 0.35)
    assert _ids(five_at_dose_2) == []


def test_an_extrasafe_boin_stage_is_a_deviation() -> None:
    case = {"id": "z", "family": "escalation", "r_call": "", "outcomes": "",
            "design": [{"stage": "boin", "num_doses": 3, "target": 0.3, "extrasafe": True}]}
    assert _ids(case) == ["boin-extrasafe"]
