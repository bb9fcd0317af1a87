"""Judge actual outputs against the R reference, by the rules of FORMAT.md sections 2 and 6.

Decisions (integers, booleans, strings, nulls and the keys in
:data:`EXACT_KEYS`) must match exactly; other numbers must lie within the
case's tolerance for their top-level field (default 1e-6).  Stochastic cases
(those with ``mc_se`` in ``expected``) compare each component by z-score
against the combined Monte Carlo standard error, each error floored at 1/n in
the quantity's units.  This is the published judge's policy
(``shared/tools/compare_reference.py``); the validation report and the tests
use this module so that they fail exactly where that judge would.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

DEFAULT_TOLERANCE = 1e-6
EXACT_KEYS = frozenset({
    "recommended_dose", "continue", "n_at_dose", "tox_at_dose", "mtd", "dose_admissible",
    "next_dose", "nodes", "table", "skeleton_levels",
})
COUNT_KEYS = frozenset({"ntrial", "nsim", "num_sims"})
PROPORTION_KEYS = frozenset({"prob_administer"})
PERCENT_KEYS = frozenset({"selpercent", "percentstop", "overdose60", "overdose80"})
DEFAULT_Z = 4.0


def is_stochastic(case: dict[str, Any]) -> bool:
    return "mc_se" in case.get("expected", {})


def compare_case(case: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Every disagreement between ``actual`` and the case's ``expected``; empty when they agree."""
    expected = case["expected"]
    if is_stochastic(case):
        z = (case.get("tolerance") or {}).get("monte_carlo_z", DEFAULT_Z)
        return list(_compare_stochastic(expected, actual, z))
    problems: list[str] = []
    for key, value in expected.items():
        if key == "next_dc_possible":
            if actual.get("next_dc") not in value:
                problems.append(f"next_dc: got {actual.get('next_dc')!r}, R allows {value!r}")
            continue
        if key in ("next_dc", "random_tie") and "next_dc_possible" in expected:
            continue
        if key == "nodes":
            problems.extend(_compare_nodes(value, actual.get("nodes")))
            continue
        if key not in actual:
            problems.append(f"{key}: missing")
            continue
        problems.extend(_close(value, actual[key], tolerance_for(case, key), key))
    return problems


def tolerance_for(case: dict[str, Any], key: str) -> float:
    if key in EXACT_KEYS:
        return 0.0
    return float((case.get("tolerance") or {}).get(key, DEFAULT_TOLERANCE))


def _close(expected: Any, actual: Any, tol: float, path: str) -> Iterator[str]:
    if expected is None or isinstance(expected, (bool, str)):
        if expected != actual or type(expected) is not type(actual):
            yield f"{path}: expected {expected!r}, got {actual!r}"
    elif isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            yield f"{path}: expected {expected!r}, got {actual!r}"
        elif tol == 0.0:
            if expected != actual:
                yield f"{path}: expected {expected!r}, got {actual!r}"
        elif not (math.isfinite(actual) and abs(actual - expected) <= tol):
            yield f"{path}: expected {expected!r}, got {actual!r} (tolerance {tol})"
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            yield f"{path}: expected a list of {len(expected)}, got {str(actual)[:80]}"
        else:
            for i, (e, a) in enumerate(zip(expected, actual)):
                yield from _close(e, a, tol, f"{path}[{i}]")
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield f"{path}: expected an object, got {str(actual)[:80]}"
        else:
            for key, value in expected.items():
                if key not in actual:
                    yield f"{path}.{key}: missing"
                else:
                    yield from _close(value, actual[key], tol, f"{path}.{key}")
    else:
        yield f"{path}: unsupported expected value {expected!r}"


def _compare_nodes(expected_nodes: list[dict[str, Any]], actual_nodes: Any) -> Iterator[str]:
    """Dose-path trees compare as sets keyed by the full outcome string."""
    if not isinstance(actual_nodes, list):
        yield "nodes: missing"
        return
    by_outcomes = {n.get("outcomes"): n for n in actual_nodes if isinstance(n, dict)}
    if len(by_outcomes) != len(expected_nodes):
        yield f"nodes: {len(by_outcomes)} distinct, expected {len(expected_nodes)}"
    for node in expected_nodes:
        mine = by_outcomes.get(node["outcomes"])
        if mine is None:
            yield f"node {node['outcomes']!r}: missing"
            continue
        for key in ("next_dose", "continue"):
            if mine.get(key) != node.get(key):
                yield f"node {node['outcomes']!r}.{key}: expected {node.get(key)!r}, got {mine.get(key)!r}"


def flatten(value: Any) -> list[Any]:
    """A quantity as a flat list: ``{"NoDose": x, "doses": [...]}`` -> ``[x, ...]``; a scalar -> ``[x]``."""
    if isinstance(value, dict):
        return [value.get("NoDose")] + list(value.get("doses") or [])
    if isinstance(value, list):
        return value
    return [value]


def _compare_stochastic(expected: dict[str, Any], actual: dict[str, Any], z: float) -> Iterator[str]:
    se_reference = expected["mc_se"]
    se_actual = actual.get("mc_se") or {}
    n = expected.get("ntrial") or expected.get("nsim") or expected.get("num_sims") or 1
    for key, value in expected.items():
        if key in ("mc_se", "msg") or key.startswith("r_"):
            continue
        if key not in actual:
            yield f"{key}: missing"
            continue
        if key in COUNT_KEYS:
            if actual[key] != value:
                yield f"{key}: expected {value}, got {actual[key]}"
            continue
        exp_values, act_values = flatten(value), flatten(actual[key])
        if len(exp_values) != len(act_values):
            yield f"{key}: length {len(act_values)} != {len(exp_values)}"
            continue
        se_r = flatten(se_reference[key]) if key in se_reference else [None] * len(exp_values)
        se_p = flatten(se_actual[key]) if key in se_actual else [None] * len(exp_values)
        floor = (100.0 if key in PERCENT_KEYS else 1.0) / n
        for i, (e, a) in enumerate(zip(exp_values, act_values)):
            if e is None or a is None or isinstance(e, bool) or isinstance(a, bool):
                if e != a:
                    yield f"{key}[{i}]: expected {e!r}, got {a!r}"
                continue
            s_r = se_r[i] if i < len(se_r) else None
            s_p = se_p[i] if i < len(se_p) else None
            if s_r is None and key in PROPORTION_KEYS:
                s_r = math.sqrt(e * (1 - e) / n)
            if s_r is None and s_p is None:
                yield f"{key}[{i}]: no Monte Carlo error from either side (report mc_se)"
                continue
            s_r = max(s_r if s_r is not None else s_p, floor)
            s_p = max(s_p if s_p is not None else s_r, floor)
            spread = math.sqrt(s_r**2 + s_p**2)
            if abs(a - e) > z * spread:
                yield f"{key}[{i}]: expected {e:.4g}±{s_r:.2g}, got {a:.4g} (z={abs(a - e) / spread:.1f})"
