"""In-process time per fit for each kind of design, on a typical mid-trial outcome string."""

from __future__ import annotations

import time
from typing import Any

from dosefinding_server.engine.decision import decide
from dosefinding_server.engine.outcomes import parse_outcome_string
from dosefinding_server.engine.registry import build_design

SKELETON = [0.05, 0.12, 0.25, 0.40, 0.55]
OUTCOMES = "1NNN 2NNN 3NTN 3NNN 4TNT 3NNN"
DESIGNS: dict[str, list[dict[str, Any]]] = {
    "crm (empiric)": [{"stage": "crm", "skeleton": SKELETON, "target": 0.25, "model": "empiric"}],
    "crm (logistic)": [{"stage": "crm", "skeleton": SKELETON, "target": 0.25, "model": "logistic", "intcpt": 3}],
    "crm + 3 behaviours": [
        {"stage": "crm", "skeleton": SKELETON, "target": 0.25, "model": "empiric"},
        {"stage": "dont_skip_doses", "when_escalating": True},
        {"stage": "stop_when_too_toxic", "dose": 1, "tox_threshold": 0.35, "confidence": 0.8},
        {"stage": "stop_at_n", "n": 30},
    ],
    "boin": [{"stage": "boin", "num_doses": 5, "target": 0.25}],
    "tpi": [{"stage": "tpi", "num_doses": 5, "target": 0.25, "k1": 1, "k2": 1.5, "exclusion_certainty": 0.95}],
    "mtpi": [{"stage": "mtpi", "num_doses": 5, "target": 0.25, "epsilon1": 0.05, "epsilon2": 0.05,
              "exclusion_certainty": 0.95}],
    "mtpi2": [{"stage": "mtpi2", "num_doses": 5, "target": 0.25, "epsilon1": 0.05, "epsilon2": 0.05,
               "exclusion_certainty": 0.95}],
    "three_plus_three": [{"stage": "three_plus_three", "num_doses": 5}],
}
THREE_PLUS_THREE_OUTCOMES = "1NNN 2NNN 3NTN 3NNN 4TNT"


def run(min_seconds: float = 1.0) -> list[dict[str, Any]]:
    """Fits per second and microseconds per fit (fit plus full Decision summary)."""
    rows = []
    for name, stages in DESIGNS.items():
        design = build_design(stages)
        text = THREE_PLUS_THREE_OUTCOMES if name == "three_plus_three" else OUTCOMES
        outcomes = parse_outcome_string(text, design.num_doses)
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < min_seconds:
            decide(design, outcomes, quantiles=(0.05, 0.5, 0.95), thresholds=(0.25, 0.35))
            count += 1
        rows.append({"design": name, "fits_per_second": count / elapsed, "microseconds_per_fit": 1e6 * elapsed / count})
    return rows
