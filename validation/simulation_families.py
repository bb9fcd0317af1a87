"""Adapters for the stochastic reference families: case -> simulation RPC -> output keyed as ``expected``.

R's random streams cannot be reproduced, so each case is simulated with the
case's number of trials and a fixed seed, and reported with the same fields
as R's ``expected`` plus this implementation's own Monte Carlo standard
errors (``mc_se``, in the shape of R's, for every compared quantity;
FORMAT.md section 6).  ``validation.families`` registers
:data:`SIMULATION_ADAPTERS` under the three family names.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import grpc

from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import design_pb2
from dosefinding.v1 import simulation_service_pb2 as spb
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages
from dosefinding_client.words import word_enum

Case = dict[str, Any]
Adapter = Callable[[DoseFindingClient, Case], dict[str, Any]]

#: every stochastic case is simulated with this seed
SEED = 20261121
#: R's get.oc argument names that differ from the proto's
_BOIN_NAMES = {"boundMTD": "bound_mtd"}


def _values(estimates: Iterable[spb.MonteCarloEstimate]) -> tuple[list[float], list[float]]:
    listed = list(estimates)
    return [e.value for e in listed], [e.mc_se for e in listed]


def _stream_result(client: DoseFindingClient, request: spb.SimulateTrialsRequest) -> spb.SimulationResult:
    """The result message at the end of a SimulateTrials stream."""
    try:
        responses = list(client.simulations.SimulateTrials(request, timeout=client.timeout,
                                                           metadata=client.metadata))
    except grpc.RpcError as error:
        raise ServiceError.from_rpc_error(error) from None
    return responses[-1].result


def escalation_simulate(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    settings = inputs.get("sim_settings", {})
    request = spb.SimulateTrialsRequest(
        designs=[design_from_stages(case["design"])],
        scenarios=[spb.SimulationScenario(true_prob_tox=inputs["true_prob_tox"])],
        num_trials=inputs["num_sims"], seed=SEED,
    )
    if "cohort_size" in settings:
        request.cohort_size = settings["cohort_size"]
    if settings.get("i_like_big_trials"):
        request.max_dose_decisions = 0
    elif "max_dose_decisions" in settings:
        request.max_dose_decisions = settings["max_dose_decisions"]
    if inputs.get("next_dose") is not None:
        request.start_dose = inputs["next_dose"]
    summary = _stream_result(client, request).summaries[0]
    doses = summary.doses
    recommend, recommend_se = _values(d.prob_recommend for d in doses)
    patients, patients_se = _values(d.mean_patients for d in doses)
    toxicities, toxicities_se = _values(d.mean_toxicities for d in doses)
    administer, administer_se = _values(d.prob_administer for d in doses)
    return {
        "num_sims": request.num_trials,
        "prob_recommend": {"NoDose": summary.prob_no_dose.value, "doses": recommend},
        "mean_n_at_dose": patients,
        "mean_tox_at_dose": toxicities,
        "mean_num_patients": summary.mean_sample_size.value,
        "mean_num_tox": summary.mean_toxicities.value,
        "prob_administer": administer,
        "mc_se": {
            "prob_recommend": {"NoDose": summary.prob_no_dose.mc_se, "doses": recommend_se},
            "mean_n_at_dose": patients_se,
            "mean_tox_at_dose": toxicities_se,
            "mean_num_patients": summary.mean_sample_size.mc_se,
            "mean_num_tox": summary.mean_toxicities.mc_se,
            "prob_administer": administer_se,
        },
    }


def boin_get_oc(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = spb.SimulateBoinOperatingCharacteristicsRequest(p_true=inputs["p_true"], seed=SEED)
    for key, value in inputs.items():
        if key != "p_true":
            setattr(request, _BOIN_NAMES.get(key, key), value)
    result = client.call(client.simulations.SimulateBoinOperatingCharacteristics, request)
    selected, selected_se = _values(d.selpercent for d in result.doses)
    patients, patients_se = _values(d.npatients for d in result.doses)
    toxicities, toxicities_se = _values(d.ntox for d in result.doses)
    actual: dict[str, Any] = {
        "ntrial": result.ntrial, "selpercent": selected, "npatients": patients, "ntox": toxicities,
        "totaltox": result.totaltox.value, "totaln": result.totaln.value, "percentstop": result.percentstop.value,
    }
    se: dict[str, Any] = {
        "selpercent": selected_se, "npatients": patients_se, "ntox": toxicities_se,
        "totaltox": result.totaltox.mc_se, "totaln": result.totaln.mc_se, "percentstop": result.percentstop.mc_se,
    }
    for name in ("overdose60", "overdose80"):
        if result.HasField(name):
            actual[name], se[name] = getattr(result, name).value, getattr(result, name).mc_se
    return actual | {"mc_se": se}


def dfcrm_crmsim(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = spb.SimulateCrmRequest(pi=inputs["PI"], prior=inputs["prior"], target=inputs["target"],
                                     n=inputs["n"], nsim=inputs["nsim"], seed=SEED)
    x0 = inputs["x0"]
    if isinstance(x0, list):
        request.initial_design.levels.extend(x0)
    else:
        request.start_level = x0
    for name in ("mcohort", "restrict", "intcpt", "scale"):
        if name in inputs:
            setattr(request, name, inputs[name])
    if "method" in inputs:
        request.method = word_enum(calc.CrmMethod.DESCRIPTOR, inputs["method"])
    if "model" in inputs:
        request.model = word_enum(design_pb2.CrmModel.DESCRIPTOR, inputs["model"])
    result = client.call(client.simulations.SimulateCrm, request)
    selected, selected_se = _values(d.mtd for d in result.doses)
    patients, patients_se = _values(d.level for d in result.doses)
    toxicities, toxicities_se = _values(d.tox for d in result.doses)
    return {
        "nsim": result.nsim, "MTD": selected, "level": patients, "tox": toxicities,
        "final_est_mean": result.final_est_mean.value, "final_est_sd": result.final_est_sd.value,
        "msg": "Warning: mle is approximated" if result.mle_approximated else "Okay",
        "mc_se": {"MTD": selected_se, "level": patients_se, "tox": toxicities_se,
                  "final_est_mean": result.final_est_mean.mc_se, "final_est_sd": result.final_est_sd.mc_se},
    }


SIMULATION_ADAPTERS: dict[str, Adapter] = {
    "boin_get_oc": boin_get_oc,
    "dfcrm_crmsim": dfcrm_crmsim,
    "escalation_simulate": escalation_simulate,
}
