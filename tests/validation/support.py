"""Test doubles of the validation suite's tests."""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

from validation.performance import ADAPTER_MODULE, SIMULATION_FAMILIES

Case = dict[str, Any]


def _se_like(value: Any) -> Any:
    """A plausible Monte Carlo standard error of the same shape as ``value``."""
    if isinstance(value, dict):
        return {key: _se_like(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_se_like(v) for v in value]
    return 0.01 * max(abs(value), 1.0)


def echo_r(shift: float = 0.0) -> Callable[[Any, Case], dict[str, Any]]:
    """An adapter that answers R's own estimates (plus ``shift`` on every selection probability)."""
    def adapter(client: Any, case: Case) -> dict[str, Any]:
        actual = {k: v for k, v in case["expected"].items() if k != "mc_se"}
        actual["mc_se"] = _se_like({k: v for k, v in actual.items() if not isinstance(v, str)})
        for key in ("selpercent", "MTD"):
            if key in actual:
                actual[key] = [v + shift for v in actual[key]]
        return actual
    return adapter


def simulation_module(adapter: Callable[[Any, Case], dict[str, Any]]) -> types.ModuleType:
    """A stand-in for ``validation.simulation_families`` whose adapters all answer with ``adapter``."""
    module = types.ModuleType(ADAPTER_MODULE)
    module.SIMULATION_ADAPTERS = {family: adapter for family in SIMULATION_FAMILIES}  # type: ignore[attr-defined]
    return module


def install(monkeypatch: Any, module: types.ModuleType) -> None:
    monkeypatch.setitem(sys.modules, ADAPTER_MODULE, module)
