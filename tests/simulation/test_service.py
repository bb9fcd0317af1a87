"""The simulation RPCs end to end through the real server, and the R reference cases through them.

The stochastic reference cases (FORMAT.md section 6) are simulated with R's
own numbers of trials (2,000 for escalation and crmsim, 10,000 for get.oc)
and judged as the published comparison judges them: every quantity within 4
combined Monte Carlo standard errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from dosefinding.v1 import simulation_service_pb2 as spb
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages
from validation.compare import compare_case
from validation.simulation_families import SIMULATION_ADAPTERS

from .catalogue import BOIN, CRM

REFERENCE = Path(__file__).resolve().parents[2] / "validation" / "reference"


def cases() -> list[dict[str, Any]]:
    found = []
    for family in sorted(SIMULATION_ADAPTERS):
        with open(REFERENCE / f"{family}.jsonl", encoding="utf-8") as handle:
            found.extend(json.loads(line) for line in handle if line.strip())
    return found


@pytest.mark.parametrize("case", cases(), ids=lambda case: case["id"])
def test_reference_case_agrees_within_monte_carlo_error(client: DoseFindingClient, case: dict[str, Any]) -> None:
    actual = SIMULATION_ADAPTERS[case["family"]](client, case)
    assert compare_case(case, actual) == []


@pytest.mark.parametrize("case_id, key, dose, shift", [
    ("sim-p-001", "true_prob_tox", 2, 0.06), ("oc-p-003", "p_true", 2, 0.04), ("crmsim-p-001", "PI", 2, 0.06)])
def test_a_slightly_different_truth_fails_the_reference(client: DoseFindingClient, case_id: str, key: str,
                                                      dose: int, shift: float) -> None:
    """R's trial counts resolve a shift of a few points in one dose's true toxicity."""
    case = next(c for c in cases() if c["id"] == case_id)
    inputs = dict(case["input"])
    inputs[key] = [p + shift if d == dose else p for d, p in enumerate(inputs[key])]
    actual = SIMULATION_ADAPTERS[case["family"]](client, case | {"input": inputs})
    assert compare_case(case, actual) != []


def stream(client: DoseFindingClient, request: spb.SimulateTrialsRequest) -> list[spb.SimulateTrialsResponse]:
    try:
        return list(client.simulations.SimulateTrials(request, timeout=60))
    except grpc.RpcError as error:
        raise ServiceError.from_rpc_error(error) from None


def test_progress_then_the_result(client: DoseFindingClient) -> None:
    request = spb.SimulateTrialsRequest(
        designs=[design_from_stages([CRM, {"stage": "stop_at_n", "n": 12}]), design_from_stages([BOIN])],
        scenarios=[spb.SimulationScenario(true_prob_tox=[0.05, 0.1, 0.25, 0.4, 0.5], label="steep"),
                   spb.SimulationScenario(true_prob_tox=[0.3, 0.4, 0.5, 0.6, 0.7], correct_doses=[1])],
        num_trials=300, seed=4, target=0.25, chunk_size=100, include_trials=True, max_patients=15,
    )
    responses = stream(client, request)
    progress = [r.progress for r in responses[:-1]]
    assert all(r.WhichOneof("event") == "progress" for r in responses[:-1]) and len(progress) == 12
    assert [p.trials_done for p in progress] == sorted(p.trials_done for p in progress)
    assert progress[-1].trials_done == progress[-1].trials_total == 1200
    result = responses[-1].result
    assert [(s.design_index, s.scenario_index) for s in result.summaries] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    first, last = result.summaries[0], result.summaries[-1]
    assert first.scenario_label == "steep" and list(first.correct_doses) == [3] and list(last.correct_doses) == [1]
    for summary in result.summaries:
        assert len(summary.trials) == 300 and sum(r.count for r in summary.stop_reasons) == 300
        assert summary.HasField("prob_correct_selection") and not summary.HasField("mean_efficacies")
        assert abs(sum(d.prob_recommend.value for d in summary.doses) + summary.prob_no_dose.value - 1) < 1e-12
        assert max(sum(t.patients) for t in summary.trials) <= 15
    assert {r.reason for r in first.stop_reasons} == {"stop_at_n"}


def test_refusals_name_the_field(client: DoseFindingClient) -> None:
    bad_design = spb.SimulateTrialsRequest(
        designs=[design_from_stages([CRM]),
                 design_from_stages([{"stage": "crm", "skeleton": [0.1, 0.2], "target": 2}])],
        scenarios=[spb.SimulationScenario(true_prob_tox=[0.1, 0.2])], num_trials=10)
    with pytest.raises(ServiceError) as caught:
        stream(client, bad_design)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field == "designs[1].stages[0].crm.target"
    bad_scenario = spb.SimulateTrialsRequest(
        designs=[design_from_stages([BOIN])], num_trials=10,
        scenarios=[spb.SimulationScenario(true_prob_tox=[0.1, 1.5, 0.2, 0.3, 0.4])])
    with pytest.raises(ServiceError) as caught:
        stream(client, bad_scenario)
    assert caught.value.violations[0].field == "scenarios[0].true_prob_tox[1]"
    with pytest.raises(ServiceError) as caught:
        client.call(client.simulations.SimulateCrm, spb.SimulateCrmRequest(
            pi=[0.1, 0.2], prior=[0.1, 0.2], target=0.2, n=10, start_level=1, nsim=10, method=2))
    assert caught.value.violations[0].field == "method"


def test_a_negative_worker_count_is_refused(client: DoseFindingClient) -> None:
    request = spb.SimulateTrialsRequest(designs=[design_from_stages([BOIN])], num_trials=10, workers=-1,
                                        scenarios=[spb.SimulationScenario(true_prob_tox=[0.1, 0.2, 0.3, 0.4, 0.5])])
    with pytest.raises(ServiceError) as caught:
        stream(client, request)
    assert [(v.field, v.description) for v in caught.value.violations] == [("workers", "-1 is not 0 or more")]


def test_get_oc_and_crmsim_answer_with_standard_errors(client: DoseFindingClient) -> None:
    oc = client.call(client.simulations.SimulateBoinOperatingCharacteristics,
                     spb.SimulateBoinOperatingCharacteristicsRequest(
                         target=0.3, p_true=[0.1, 0.3, 0.5], ncohort=6, cohortsize=3, ntrial=400, seed=2,
                         include_trials=True))
    assert oc.ntrial == 400 and len(oc.doses) == 3 and len(oc.trials) == 400
    assert abs(sum(d.selpercent.value for d in oc.doses) + oc.percentstop.value - 100) < 1e-9
    assert oc.HasField("overdose60") and oc.totaltox.mc_se > 0
    crm = client.call(client.simulations.SimulateCrm, spb.SimulateCrmRequest(
        pi=[0.05, 0.15, 0.3, 0.5], prior=[0.05, 0.15, 0.3, 0.45], target=0.3, n=12, start_level=1, nsim=200, seed=3,
        mcohort=3, include_trials=True))
    assert crm.nsim == 200 and abs(sum(d.mtd.value for d in crm.doses) - 1) < 1e-12
    assert all(sum(t.patients) == 12 and t.HasField("estimate") for t in crm.trials)


def test_server_side_workers_change_nothing(client: DoseFindingClient) -> None:
    request = spb.SimulateTrialsRequest(
        designs=[design_from_stages([CRM, {"stage": "stop_at_n", "n": 9}])],
        scenarios=[spb.SimulationScenario(true_prob_tox=[0.05, 0.1, 0.25, 0.4, 0.5])],
        num_trials=120, seed=8, include_trials=True, chunk_size=30)
    in_process = stream(client, request)[-1].result
    request.workers = 2
    pooled = stream(client, request)[-1].result
    assert pooled.SerializeToString(deterministic=True) == in_process.SerializeToString(deterministic=True)
