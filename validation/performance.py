"""Performance qualification (PQ), part 1: operating characteristics against R within Monte Carlo error.

The design a sponsor chooses is justified by its operating characteristics
(how often each dose is selected, how many patients each dose gets, ...),
obtained by simulation.  For each Monte Carlo reference case (families
``boin_get_oc``, ``dfcrm_crmsim``, ``escalation_simulate``; FORMAT.md
section 6) the project's simulation is run through the gRPC API by the
adapters of :mod:`.simulation_families` and judged by
:func:`.compare.compare_case`: every quantity within ``z`` combined Monte
Carlo standard errors of R's.

The adapters are loaded when the run starts; a family without one is
reported as "not available" (not a pass, not a failure), so the report
shows the gap until the adapters exist.  Cases whose label cites a
published scenario are marked: the R reference reproduces that scenario;
the publication's own table is not part of the reference data.
"""

from __future__ import annotations

import importlib
import re
import time
from typing import Any, Callable

from dosefinding_client import DoseFindingClient

from .compare import COUNT_KEYS, compare_case, flatten, is_stochastic
from .evaluate import call_adapter
from .progress import Progress

Case = dict[str, Any]
Adapter = Callable[[DoseFindingClient, Case], dict[str, Any]]
SIMULATION_FAMILIES = ("boin_get_oc", "dfcrm_crmsim", "escalation_simulate")
ADAPTER_MODULE = f"{__package__}.simulation_families"
NOT_AVAILABLE = "not available"
#: a label citing a publication: "Author & Author (2015) ..."
_CITATION = re.compile(r"\b[A-Z][a-z]+(?: (?:&|and) [A-Z][a-z]+)? \(\d{4}\)")
_NOT_COMPARED = COUNT_KEYS | {"mc_se", "msg"}


def load_adapters() -> tuple[dict[str, Adapter], str | None]:
    """The simulation adapters, and why there are none (``None`` when loaded).

    Only the module's absence makes the families "not available"; a module
    that exists but cannot be imported is a failure of the run.
    """
    try:
        module = importlib.import_module(ADAPTER_MODULE)
    except ModuleNotFoundError as error:
        if error.name == ADAPTER_MODULE:
            return {}, f"{ADAPTER_MODULE} is not installed"
        raise
    return dict(getattr(module, "SIMULATION_ADAPTERS")), None


def components(case: Case, actual: dict[str, Any]) -> list[dict[str, Any]]:
    """Each compared number of a case side by side: R's value and standard error, the project's."""
    expected, se_r, se_p = case["expected"], case["expected"].get("mc_se", {}), actual.get("mc_se") or {}
    rows = []
    for key, value in expected.items():
        if key in _NOT_COMPARED or key.startswith("r_") or key not in actual:
            continue
        names = (["no dose"] + [f"dose {i + 1}" for i in range(len(value["doses"]))] if isinstance(value, dict)
                 else [f"dose {i + 1}" for i in range(len(value))] if isinstance(value, list) else [""])
        columns = [flatten(value), flatten(actual[key]),
                   flatten(se_r[key]) if key in se_r else [], flatten(se_p[key]) if key in se_p else []]
        for i, name in enumerate(names):
            r, p, sr, sp = (column[i] if i < len(column) else None for column in columns)
            rows.append({"quantity": key, "component": name, "r": r, "r_se": sr, "project": p, "project_se": sp})
    return rows


def _judge(client: DoseFindingClient, adapter: Adapter, case: Case) -> dict[str, Any]:
    started = time.perf_counter()
    actual, error = call_adapter(adapter, client, case)
    if actual is None:
        return {"status": "fail", "problems": [error], "seconds": time.perf_counter() - started}
    problems = compare_case(case, actual)
    return {"status": "fail" if problems else "pass", "problems": problems, "actual": actual,
            "components": components(case, actual), "seconds": time.perf_counter() - started}


def qualify(client: DoseFindingClient, families: dict[str, list[Case]], progress: Progress) -> dict[str, Any]:
    """Run every selected Monte Carlo case; the operating-characteristics part of the PQ section."""
    cases = [case for family in families.values() for case in family if is_stochastic(case)]
    broken: str | None = None
    try:
        adapters, unavailable = load_adapters()
    except Exception as error:  # the adapters exist but are broken: every case they would answer fails
        adapters, unavailable = {}, None
        broken = f"{ADAPTER_MODULE} cannot be imported: {type(error).__name__}: {error}"
    results = []
    for number, case in enumerate(cases, 1):
        entry: dict[str, Any] = {"id": case["id"], "family": case["family"], "label": case.get("label", ""),
                                 "r_call": case.get("r_call"), "tolerance": case.get("tolerance"),
                                 "published_scenario": bool(_CITATION.search(case.get("label", "")))}
        adapter = adapters.get(case["family"])
        if broken is not None:
            entry.update(status="fail", problems=[broken])
        elif adapter is None:
            entry.update(status=NOT_AVAILABLE,
                         problems=[unavailable or f"{ADAPTER_MODULE} has no adapter for {case['family']}"])
        else:
            progress.say(f"PQ: simulating {case['id']} ({number}/{len(cases)}): {entry['label']}")
            entry.update(_judge(client, adapter, case))
        results.append(entry)
    statuses = [r["status"] for r in results]
    return {
        "ok": "fail" not in statuses,
        "cases": len(results),
        "pass": statuses.count("pass"),
        "fail": statuses.count("fail"),
        "not_available": statuses.count(NOT_AVAILABLE),
        "adapters": ADAPTER_MODULE if not unavailable and broken is None else None,
        "results": results,
    }
