"""PQ's operating characteristics: judged within Monte Carlo error once adapters exist, "not available" before."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation import performance
from validation.cases import Selection, load
from validation.installation import REFERENCE_DIR
from validation.progress import Progress

from .support import echo_r, install, simulation_module

QUIET = Progress(enabled=False)


@pytest.fixture(scope="module")
def simulated() -> dict[str, list[dict]]:
    return load(REFERENCE_DIR, Selection(frozenset(performance.SIMULATION_FAMILIES), limit=2))


def test_without_the_adapter_module_every_case_is_not_available(simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(performance, "ADAPTER_MODULE", "validation.no_such_adapters")
    result = performance.qualify(None, simulated, QUIET)  # type: ignore[arg-type]
    assert result["ok"] and result["not_available"] == result["cases"] == 6
    assert all(r["problems"] == ["validation.no_such_adapters is not installed"] for r in result["results"])


def test_an_adapter_module_that_cannot_be_imported_fails_every_case(simulated, monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    (tmp_path / "broken_adapters.py").write_text("import no_such_dependency_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(performance, "ADAPTER_MODULE", "broken_adapters")
    result = performance.qualify(None, simulated, QUIET)  # type: ignore[arg-type]
    assert not result["ok"] and result["fail"] == 6
    assert "no_such_dependency_anywhere" in result["results"][0]["problems"][0]


def test_estimates_within_monte_carlo_error_pass(simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, simulation_module(echo_r()))
    result = performance.qualify(None, simulated, QUIET)  # type: ignore[arg-type]
    assert result["ok"] and result["pass"] == 6, [r["problems"] for r in result["results"]]
    oc = next(r for r in result["results"] if r["id"] == "oc-p-001")
    first = oc["components"][0]
    assert (first["quantity"], first["component"], first["r"]) == ("selpercent", "dose 1", 1.31)


def test_estimates_far_from_r_fail_with_the_quantity_named(simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, simulation_module(echo_r(shift=20.0)))
    result = performance.qualify(None, simulated, QUIET)  # type: ignore[arg-type]
    failed = {r["family"] for r in result["results"] if r["status"] == "fail"}
    assert not result["ok"] and failed == {"boin_get_oc", "dfcrm_crmsim"}
    assert any(p.startswith("selpercent[0]") for p in result["results"][0]["problems"])


def test_an_adapter_error_is_that_cases_failure(simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    def raising(client: object, case: dict) -> dict:
        raise RuntimeError("simulation crashed")
    install(monkeypatch, simulation_module(raising))
    result = performance.qualify(None, simulated, QUIET)  # type: ignore[arg-type]
    assert result["fail"] == 6 and "RuntimeError: simulation crashed" in result["results"][0]["problems"][0]


def test_cases_citing_a_publication_are_marked(simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, simulation_module(echo_r()))
    result = performance.qualify(None, simulated, QUIET)  # type: ignore[arg-type]
    cited = {r["id"] for r in result["results"] if r["published_scenario"]}
    assert cited == {"oc-p-002", "sim-p-002"}
