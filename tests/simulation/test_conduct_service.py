"""SimulateTrials with conducts (backfill, randomised expansion) through the real server."""

from __future__ import annotations

import grpc
import pytest

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import simulation_service_pb2 as spb
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages

from .catalogue import CRM
from .test_service import stream

BACKFILL = tpb.BackfillPlan(cap_per_dose=6, safety_theta=0.3, safety_confidence=0.9)
EXPANSION = tpb.ExpansionPlan(arms=[2, 3], strata=["NSCLC", "melanoma"])
PHASES = [outcomes_pb2.TREATMENT_PHASE_ESCALATION, outcomes_pb2.TREATMENT_PHASE_BACKFILL,
          outcomes_pb2.TREATMENT_PHASE_EXPANSION]


def request(*conducts: spb.TrialConduct, trials: int = 300) -> spb.SimulateTrialsRequest:
    return spb.SimulateTrialsRequest(
        designs=[design_from_stages([CRM, {"stage": "dont_skip_doses"}, {"stage": "stop_at_n", "n": 36}])],
        scenarios=[spb.SimulationScenario(true_prob_tox=[0.05, 0.1, 0.25, 0.5, 0.7], label="separated")],
        num_trials=trials, seed=12, target=0.25, max_patients=24, conducts=conducts)


def test_conducts_are_summarised_by_phase_and_contrasted(client: DoseFindingClient) -> None:
    conducts = [spb.TrialConduct(label="escalation only"),
                spb.TrialConduct(label="with backfill", backfill=BACKFILL, backfill_per_cohort=2),
                spb.TrialConduct(label="with expansion", expansion=EXPANSION, expansion_size=12,
                                 stratum_probabilities=[0.75, 0.25], select_with_expansion=True)]
    result = stream(client, request(*conducts))[-1].result
    assert [(s.conduct_index, s.conduct_label) for s in result.summaries] == [
        (0, "escalation only"), (1, "with backfill"), (2, "with expansion")]
    only, backfill, expansion = result.summaries
    for summary in result.summaries:
        assert [p.phase for p in summary.phases] == PHASES and all(len(d.phases) == 3 for d in summary.doses)
        total = sum(p.mean_patients.value for p in summary.phases)
        assert abs(total - summary.mean_sample_size.value) < 1e-9
        assert summary.HasField("mean_patients_below_mtd")
    assert only.phases[1].mean_patients.value == only.phases[2].mean_patients.value == 0
    assert backfill.phases[1].mean_patients.value > 3 and backfill.phases[1].mean_toxicities.value > 0
    assert sum(d.phases[1].mean_patients.value for d in backfill.doses[3:]) < 0.5  # hardly ever above the MTD
    assert expansion.phases[2].mean_patients.value == 12 * (1 - only.prob_no_dose.value)
    assert [d.phases[2].mean_patients.value > 0 for d in expansion.doses] == [False, True, True, False, False]
    assert [(c.design_index, c.scenario_index, c.conduct_index) for c in result.contrasts] == [(0, 0, 1), (0, 0, 2)]
    gain = result.contrasts[0]
    assert abs(gain.mean_patients_below_mtd.value - (backfill.mean_patients_below_mtd.value
                                                     - only.mean_patients_below_mtd.value)) < 1e-9
    assert abs(gain.prob_correct_selection.value - (backfill.prob_correct_selection.value
                                                    - only.prob_correct_selection.value)) < 1e-9


def test_no_conduct_is_escalation_only(client: DoseFindingClient) -> None:
    plain = stream(client, request(trials=100))[-1].result
    named = stream(client, request(spb.TrialConduct(label="escalation only"), trials=100))[-1].result
    assert not plain.contrasts and plain.summaries[0].conduct_label == ""
    plain.summaries[0].conduct_label = "escalation only"
    assert plain.SerializeToString(deterministic=True) == named.SerializeToString(deterministic=True)


@pytest.mark.parametrize("conduct, field", [
    (spb.TrialConduct(backfill=BACKFILL), "conducts[0].backfill_per_cohort"),
    (spb.TrialConduct(backfill_per_cohort=2), "conducts[0].backfill_per_cohort"),
    (spb.TrialConduct(backfill=tpb.BackfillPlan(cap_per_dose=0, safety_theta=0.3, safety_confidence=0.9),
                      backfill_per_cohort=1), "conducts[0].backfill.cap_per_dose"),
    (spb.TrialConduct(expansion=EXPANSION), "conducts[0].expansion_size"),
    (spb.TrialConduct(expansion_size=5), "conducts[0].expansion"),
    (spb.TrialConduct(expansion=tpb.ExpansionPlan(arms=[4, 6]), expansion_size=5), "conducts[0].expansion.arms"),
    (spb.TrialConduct(expansion=EXPANSION, expansion_size=5, stratum_probabilities=[0.5, 0.4]),
     "conducts[0].stratum_probabilities"),
])
def test_conduct_refusals_name_the_field(client: DoseFindingClient, conduct: spb.TrialConduct, field: str) -> None:
    with pytest.raises(ServiceError) as caught:
        stream(client, request(conduct, trials=10))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field == field
