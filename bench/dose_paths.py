"""Dose-path nodes per second, against escalation's 190 nodes/s (CRM, 4 cohorts of 3, measured in R here)."""

from __future__ import annotations

import time
from typing import Any

from dosefinding_server.engine.outcomes import Outcomes
from dosefinding_server.engine.paths import dose_paths
from dosefinding_server.engine.registry import build_design

R_NODES_PER_SECOND = 190.0
CRM = [{"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}]


def run(min_seconds: float = 3.0) -> list[dict[str, Any]]:
    """Whole trees from scratch (no cache survives between trees)."""
    nodes, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds:
        nodes += len(dose_paths(build_design(CRM), Outcomes(), [3, 3, 3, 3]))
    rate = nodes / elapsed
    return [{"design": "crm, 4 cohorts of 3", "nodes_per_second": rate, "ratio_to_r": rate / R_NODES_PER_SECOND}]
