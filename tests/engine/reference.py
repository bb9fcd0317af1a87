"""Reference cases fed straight to the engine (no server): the fast loop for engine work.

The published agreement is judged through the gRPC API (``tests/reference``);
these helpers let engine tests name the first disagreeing case in milliseconds.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from dosefinding_server.engine.decision import decide
from dosefinding_server.engine.outcomes import parse_outcome_string
from dosefinding_server.engine.registry import build_design
from validation.compare import compare_case

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "validation" / "reference"


@lru_cache(maxsize=None)
def load_cases(family: str) -> tuple[dict[str, Any], ...]:
    """Every published case of ``family``, in file order."""
    with open(REFERENCE_DIR / f"{family}.jsonl", encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def escalation_actual(case: dict[str, Any]) -> dict[str, Any]:
    """The engine's answer to an ``escalation`` case, keyed as the case's ``expected``."""
    expected = case["expected"]
    design = build_design(case["design"])
    efficacy = design.efficacy
    outcomes = parse_outcome_string(case["outcomes"], design.num_doses, efficacy=efficacy)
    quantile_keys = list(expected.get("prob_tox_quantile", {"0.05": None, "0.95": None}))
    exceed_keys = list(expected.get("prob_tox_exceeds", {}))
    eff_keys = list(expected.get("prob_eff_exceeds", {}))
    decision = decide(
        design, outcomes,
        quantiles=[float(k) for k in quantile_keys],
        thresholds=[float(k) for k in exceed_keys],
        efficacy_thresholds=[float(k) for k in eff_keys],
    )
    doses = decision.doses
    actual: dict[str, Any] = {
        "recommended_dose": decision.recommended_dose,
        "continue": decision.continues,
        "num_patients": decision.num_patients,
        "n_at_dose": [d.patients for d in doses],
        "tox_at_dose": [d.toxicities for d in doses],
        "mean_prob_tox": [d.mean_prob_tox for d in doses],
        "median_prob_tox": [d.median_prob_tox for d in doses],
        "prob_tox_quantile": {k: [d.prob_tox_quantiles[i] for d in doses] for i, k in enumerate(quantile_keys)},
        "prob_tox_exceeds": {k: [d.prob_tox_exceeds[i] for d in doses] for i, k in enumerate(exceed_keys)},
        "dose_admissible": [d.admissible for d in doses],
    }
    if efficacy:
        actual.update({
            "eff_at_dose": [d.efficacies for d in doses],
            "mean_prob_eff": [d.mean_prob_eff for d in doses],
            "median_prob_eff": [d.median_prob_eff for d in doses],
            "prob_eff_exceeds": {k: [d.prob_eff_exceeds[i] for d in doses] for i, k in enumerate(eff_keys)},
            "utility": [d.utility for d in doses],
        })
    return actual


def disagreements(case: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    return compare_case(case, actual)


def escalation_cases(*stage_kinds: str) -> list[dict[str, Any]]:
    """The escalation cases whose design uses only the given stage kinds (all when none given)."""
    cases = load_cases("escalation")
    if not stage_kinds:
        return list(cases)
    allowed = set(stage_kinds)
    return [c for c in cases if {s["stage"] for s in c["design"]} <= allowed]
