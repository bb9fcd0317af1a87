"""DecisionService end to end: a real server on loopback and the real client."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import outcomes_pb2
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages
from tests.engine.reference import load_cases
from validation.server_process import local_server

CRM = {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric",
       "scale": 1.1575836902790226}


def evaluate(client: DoseFindingClient, stages: list[dict], outcomes: str | list,
             **extra) -> dpb.EvaluateDesignResponse:
    if isinstance(outcomes, str):
        source = outcomes_pb2.Outcomes(outcome_string=outcomes)
    else:
        source = outcomes_pb2.Outcomes(records=outcomes_pb2.PatientRecords(patients=outcomes))
    request = dpb.EvaluateDesignRequest(design=design_from_stages(stages), outcomes=source, **extra)
    return client.call(client.decisions.EvaluateDesign, request)


def refusal(client: DoseFindingClient, stages: list[dict], outcomes: str | list) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        evaluate(client, stages, outcomes)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value


@pytest.mark.parametrize("stages, outcomes, field, description", [
    ([CRM], "1NNN 9NN", "outcomes.outcome_string", "position 6: dose 9 is outside 1..5"),
    ([CRM], "1NNN 2NQN", "outcomes.outcome_string", "position 8: outcome 'Q' is not N or T"),
    ([{"stage": "stop_at_n", "n": 3}, CRM], "", "design.stages[0].stage",
     "stop_at_n is a behaviour; a design starts with a core selector (or follow_path)"),
    ([CRM, CRM], "", "design.stages[1].stage", "crm is a second core selector; a design has one"),
    ([CRM, {"stage": "stop_at_n", "n": 0}], "", "design.stages[1].stop_at_n.n", None),
    ([dict(CRM, skeleton=[0.1, 0.3, 0.2])], "", "design.stages[0].crm.skeleton[2]", None),
    ([dict(CRM, target=1.2)], "", "design.stages[0].crm.target", None),
    ([CRM, {"stage": "stop_when_n_at_dose", "n": 3, "dose": 7}], "",
     "design.stages[1].stop_when_n_at_dose.dose", "dose 7 is outside 1..5"),
])
def test_bad_input_names_the_field_and_the_problem(client, stages, outcomes, field, description):
    error = refusal(client, stages, outcomes)
    assert error.violations[0].field == field
    if description is not None:
        assert error.violations[0].description == description


@pytest.mark.parametrize("extra, field, description", [
    ({"quantiles": [0.05, 1.5]}, "quantiles[1]", "1.5 is not strictly between 0 and 1"),
    ({"quantiles": [0.0]}, "quantiles[0]", "0.0 is not strictly between 0 and 1"),
    ({"quantiles": [float("nan")]}, "quantiles[0]", "nan is not strictly between 0 and 1"),
    ({"tox_thresholds": [float("nan")]}, "tox_thresholds[0]", "nan is not a probability (0 to 1)"),
    ({"tox_thresholds": [0.3, -0.1]}, "tox_thresholds[1]", "-0.1 is not a probability (0 to 1)"),
    ({"eff_thresholds": [2.0]}, "eff_thresholds[0]", "2.0 is not a probability (0 to 1)"),
])
def test_quantile_levels_and_thresholds_that_are_not_probabilities_are_refused(client, extra, field, description):
    with pytest.raises(ServiceError) as caught:
        evaluate(client, [CRM], "1NNN", **extra)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in caught.value.violations] == [(field, description)]


def test_the_edges_of_the_thresholds_are_answered(client):
    dose = evaluate(client, [CRM], "1NNN", tox_thresholds=[0.0, 1.0]).decision.doses[0]
    assert [(e.threshold, e.probability) for e in dose.prob_tox_exceeds] == [(0.0, 1.0), (1.0, 0.0)]


def test_a_stage_with_no_kind_is_refused(client):
    request = dpb.EvaluateDesignRequest()
    request.design.stages.add()
    with pytest.raises(ServiceError) as caught:
        client.call(client.decisions.EvaluateDesign, request)
    assert caught.value.violations[0].field == "design.stages[0]"


def test_patient_records_are_checked_record_by_record(client):
    records = [outcomes_pb2.PatientOutcome(dose=1), outcomes_pb2.PatientOutcome(dose=6, toxicity=True)]
    error = refusal(client, [CRM], records)
    assert error.violations[0].field == "outcomes.records.patients[1].dose"


def test_records_and_outcome_strings_give_the_same_decision(client):
    records = [outcomes_pb2.PatientOutcome(dose=d, toxicity=t, cohort=c)
               for d, t, c in [(1, False, 1), (1, False, 1), (1, False, 1), (2, True, 2), (2, False, 2)]]
    by_records = evaluate(client, [CRM], records).decision
    by_string = evaluate(client, [CRM], "1NNN 2TN").decision
    assert by_records == by_string


def answer_bytes(response: dpb.EvaluateDesignResponse) -> bytes:
    """The answer without its audit receipt (each call is its own audit record)."""
    response.ClearField("audit")
    return response.SerializeToString()


def test_the_same_request_gives_the_same_bytes_in_another_process(client):
    stages = [CRM, {"stage": "stop_when_too_toxic", "dose": 1, "tox_threshold": 0.35, "confidence": 0.8},
              {"stage": "stop_at_n", "n": 12}]
    extra = {"quantiles": [0.05, 0.5, 0.95], "tox_thresholds": [0.25, 0.35]}
    first = evaluate(client, stages, "1NNN 2NTN 2NNT", **extra)
    second = evaluate(client, stages, "1NNN 2NTN 2NNT", **extra)
    assert second.audit.sequence > first.audit.sequence > 0
    here = answer_bytes(first)
    assert answer_bytes(second) == here
    with local_server() as address, DoseFindingClient(address) as other:
        other.wait_ready()
        assert answer_bytes(evaluate(other, stages, "1NNN 2NTN 2NNT", **extra)) == here


def test_the_trace_has_one_step_per_stage_in_order(client):
    stages = [CRM, {"stage": "dont_skip_doses", "when_escalating": True}, {"stage": "stop_at_n", "n": 6}]
    decision = evaluate(client, stages, "1NNN 1NNN").decision
    assert [step.stage for step in decision.trace] == ["crm", "dont_skip_doses", "stop_at_n"]
    assert [step.index for step in decision.trace] == [0, 1, 2]
    last = decision.trace[-1]
    assert not last.continue_trial and not decision.continue_trial
    assert all(step.reason for step in decision.trace)
    assert decision.trace[1].received_dose == decision.trace[0].dose


def _inadmissible_recommendation_case():
    for case in load_cases("escalation"):
        expected = case["expected"]
        dose = expected["recommended_dose"]
        admissible = expected.get("dose_admissible")
        if dose is not None and admissible and admissible[dose - 1] is False:
            return case
    raise AssertionError("the reference has such chains")


def test_recommending_an_inadmissible_dose_matches_r_and_warns(client):
    case = _inadmissible_recommendation_case()
    decision = evaluate(client, case["design"], case["outcomes"]).decision
    assert decision.recommended_dose == case["expected"]["recommended_dose"]
    assert decision.doses[decision.recommended_dose - 1].admissible is False
    assert any("inadmissible" in warning for warning in decision.warnings)


def test_health_reports_serving(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"dosefinding.v1.DecisionService", "dosefinding.v1.SimulationService"} <= names
