"""One adapter per reference family: case -> gRPC request -> output keyed as the case's ``expected``.

The validation suite is an outside observer: adapters build requests with the
public client and read only responses.  The names of requested quantities
(quantile levels, exceedance thresholds) are read from the keys of ``expected``,
which is how FORMAT.md states the question R was asked.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from google.protobuf.message import Message

from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import design_pb2, outcomes_pb2
from dosefinding.v1 import simulation_service_pb2 as spb
from dosefinding_client import DoseFindingClient, design_from_stages
from dosefinding_client.fields import optional
from dosefinding_client.words import word_enum

from .simulation_families import SIMULATION_ADAPTERS

Case = dict[str, Any]
Adapter = Callable[[DoseFindingClient, Case], dict[str, Any]]


def _enum(enum_type: Any, word: str | None) -> int:
    return 0 if word is None else word_enum(enum_type.DESCRIPTOR, word)


def _outcomes(text: str) -> outcomes_pb2.Outcomes:
    return outcomes_pb2.Outcomes(outcome_string=text)


def _rows(matrix: list[list[int]]) -> list[calc.CountRow]:
    return [calc.CountRow(values=row) for row in matrix]


#: an R call that opens by seeding R's RNG: ``set.seed(N);``
_SET_SEED = re.compile(r"set\.seed\((\d+)\);")


def seeded_stages(case: Case) -> list[dict[str, Any]]:
    """The case's design, with its R call's seed as ``r_seed`` in any select_dose_by_cibp stage.

    R's CIBP criterion is a Monte Carlo mean over 4000 ``rnorm`` draws, so the
    seed the R call sets is part of the call's input, as much as the design:
    given it, the service reproduces R's draws and so R's answer even where
    one extreme draw decides it (esc-p-00210); without it, the service
    computes the expectation by quadrature.
    """
    match = _SET_SEED.match(case["r_call"])
    if match is None:
        return list(case["design"])
    seed = int(match.group(1))
    return [dict(stage, r_seed=seed) if stage["stage"] == "select_dose_by_cibp" else stage
            for stage in case["design"]]


def escalation(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    expected = case["expected"]
    quantiles = list(expected.get("prob_tox_quantile", {}))
    thresholds = list(expected.get("prob_tox_exceeds", {}))
    eff_thresholds = list(expected.get("prob_eff_exceeds", {}))
    request = dpb.EvaluateDesignRequest(
        design=design_from_stages(seeded_stages(case)),
        outcomes=_outcomes(case["outcomes"]),
        quantiles=[float(k) for k in quantiles],
        tox_thresholds=[float(k) for k in thresholds],
        eff_thresholds=[float(k) for k in eff_thresholds],
    )
    decision = client.call(client.decisions.EvaluateDesign, request).decision
    doses = decision.doses
    actual: dict[str, Any] = {
        "recommended_dose": optional(decision, "recommended_dose"),
        "continue": decision.continue_trial,
        "num_patients": decision.num_patients,
        "n_at_dose": [d.patients for d in doses],
        "tox_at_dose": [d.toxicities for d in doses],
        "mean_prob_tox": [optional(d, "mean_prob_tox") for d in doses],
        "median_prob_tox": [optional(d, "median_prob_tox") for d in doses],
        "prob_tox_quantile": {k: [optional(d.prob_tox_quantiles[i], "value") for d in doses]
                              for i, k in enumerate(quantiles)},
        "prob_tox_exceeds": {k: [optional(d.prob_tox_exceeds[i], "probability") for d in doses]
                             for i, k in enumerate(thresholds)},
        "dose_admissible": [optional(d, "admissible") for d in doses],
    }
    if "eff_at_dose" in expected:
        actual.update({
            "eff_at_dose": [optional(d, "efficacies") for d in doses],
            "mean_prob_eff": [optional(d, "mean_prob_eff") for d in doses],
            "median_prob_eff": [optional(d, "median_prob_eff") for d in doses],
            "prob_eff_exceeds": {k: [optional(d.prob_eff_exceeds[i], "probability") for d in doses]
                                 for i, k in enumerate(eff_thresholds)},
            "utility": [optional(d, "utility") for d in doses],
        })
    return actual


def _crm_request(inputs: dict[str, Any]) -> calc.FitCrmRequest:
    request = calc.FitCrmRequest(
        prior=inputs["prior"], target=inputs["target"], tox=inputs["tox"], level=inputs["level"],
        model=_enum(design_pb2.CrmModel, inputs.get("model")),
        method=_enum(calc.CrmMethod, inputs.get("method")),
        scheme=_enum(calc.TiteScheme, inputs.get("scheme")),
        followup=inputs.get("followup", []), weights=inputs.get("weights", []),
    )
    for name in ("intcpt", "scale", "conf_level", "obswin"):
        if name in inputs:
            setattr(request, name, inputs[name])
    return request


def dfcrm_crm(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    result = client.call(client.decisions.FitCrm, _crm_request(case["input"]))
    actual = {
        "mtd": result.mtd, "estimate": result.estimate, "post_var": result.post_var,
        "prior_var": result.prior_var,
        "ptox": [d.ptox for d in result.doses],
        "ptoxL": [optional(d, "ptox_lower") for d in result.doses],
        "ptoxU": [optional(d, "ptox_upper") for d in result.doses],
        "dosescaled": [d.dosescaled for d in result.doses],
    }
    if case["family"] == "dfcrm_titecrm":
        actual["weights"] = list(result.weights)
    return actual


def dfcrm_getprior(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = calc.CalibrateSkeletonRequest(
        halfwidth=inputs["halfwidth"], target=inputs["target"], nu=inputs["nu"],
        nlevel=inputs["nlevel"], model=_enum(design_pb2.CrmModel, inputs.get("model")))
    if "intcpt" in inputs:
        request.intcpt = inputs["intcpt"]
    return {"skeleton": list(client.call(client.decisions.CalibrateSkeleton, request).skeleton)}


def _boin_options(request: Message, inputs: dict[str, Any]) -> Message:
    """Copy BOIN's optional arguments (``boundMTD`` is ``bound_mtd`` in the proto)."""
    for key, value in inputs.items():
        name = "bound_mtd" if key == "boundMTD" else key
        if name in ("target", "npts", "ntox", "dose_curr", "ncohort", "cohortsize"):
            continue
        setattr(request, name, value)
    return request


def boin_get_boundary(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = _boin_options(calc.GetBoinBoundariesRequest(
        target=inputs["target"], ncohort=inputs["ncohort"], cohortsize=inputs["cohortsize"]), inputs)
    result = client.call(client.decisions.GetBoinBoundaries, request)
    actual: dict[str, Any] = {
        "lambda_e": result.lambda_e, "lambda_d": result.lambda_d,
        "table": [{"n": r.n, "escalate_if_le": r.escalate_if_le, "deescalate_if_ge": r.deescalate_if_ge,
                   "eliminate_if_ge": optional(r, "eliminate_if_ge")} for r in result.rows],
        "boundary_tab_n": list(result.boundary_tab_n),
    }
    if result.HasField("cutoff"):
        actual["cutoff"] = result.cutoff
        actual["stop_boundary"] = [{"n": r.n, "stop_if_ge": optional(r, "stop_if_ge")} for r in result.stop_rows]
    return actual


def boin_select_mtd(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = _boin_options(calc.SelectBoinMtdRequest(
        target=inputs["target"], npts=inputs["npts"], ntox=inputs["ntox"]), inputs)
    result = client.call(client.decisions.SelectBoinMtd, request)
    return {
        "mtd": optional(result, "mtd"),
        "p_est": [{"dose": d.dose, "phat": optional(d, "phat"), "ci_low": optional(d, "ci_low"),
                   "ci_high": optional(d, "ci_high")} for d in result.doses],
        "p_overdose": [optional(d, "p_overdose") for d in result.doses],
    }


def boin_next_comb(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    a, b = inputs["dose_curr"]
    request = _boin_options(calc.NextBoinCombinationRequest(
        target=inputs["target"], npts=_rows(inputs["npts"]), ntox=_rows(inputs["ntox"]),
        current=calc.DoseCombination(a=a, b=b)), inputs)
    result = client.call(client.decisions.NextBoinCombination, request)
    following = [result.next.a, result.next.b] if result.HasField("next") else [None, None]
    return {"next_dc": following, "random_tie": result.random_tie}


def boin_select_mtd_comb(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = _boin_options(calc.SelectBoinCombinationMtdRequest(
        target=inputs["target"], npts=_rows(inputs["npts"]), ntox=_rows(inputs["ntox"])), inputs)
    result = client.call(client.decisions.SelectBoinCombinationMtd, request)
    return {"MTD": [[m.a, m.b] for m in result.mtd], "p_est": [list(r.values) for r in result.p_est]}


def _posterior_fields(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule": _enum(calc.PosteriorRule, inputs["rule"]), "theta": inputs["theta"],
        "confidence": inputs["confidence"], "prior_alpha": inputs["prior_alpha"],
        "prior_beta": inputs["prior_beta"],
    }


def posterior_stopping(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = calc.EvaluatePosteriorStoppingRequest(
        n=inputs["n"], events=inputs["events"], **_posterior_fields(inputs))
    result = client.call(client.decisions.EvaluatePosteriorStopping, request)
    return {"probability": result.probability, "stop": result.stop}


def posterior_stopping_table(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = calc.GetPosteriorStoppingTableRequest(max_n=inputs["max_n"], **_posterior_fields(inputs))
    result = client.call(client.decisions.GetPosteriorStoppingTable, request)
    return {"table": [{"n": r.n, "boundary": optional(r, "boundary")} for r in result.rows]}


def tree_stopping(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    request = calc.EvaluateTreeStoppingRequest(
        design=design_from_stages(case["design"]), outcomes=_outcomes(case["outcomes"]),
        k=case["input"]["k"])
    result = client.call(client.decisions.EvaluateTreeStopping, request)
    reachable: Any = list(result.doses_reachable)
    # The reference was written by jsonlite with auto_unbox: a single dose is a scalar.
    if len(reachable) == 1:
        reachable = reachable[0]
    return {"recommended_dose": optional(result, "recommended_dose"), "doses_reachable": reachable,
            "stop": result.stop}


def escalation_dose_paths(client: DoseFindingClient, case: Case) -> dict[str, Any]:
    inputs = case["input"]
    request = spb.GetDosePathsRequest(
        design=design_from_stages(case["design"]),
        previous_outcomes=_outcomes(inputs.get("previous_outcomes", "")),
        cohort_sizes=inputs["cohort_sizes"])
    if inputs.get("next_dose") is not None:
        request.next_dose = inputs["next_dose"]
    result = client.call(client.simulations.GetDosePaths, request)
    nodes = [{"node_id": n.node_id, "parent_id": optional(n, "parent_id"), "depth": n.depth,
              "pathway": n.pathway, "outcomes": n.outcomes, "next_dose": optional(n, "next_dose"),
              "continue": n.continue_trial} for n in result.nodes]
    return {"num_nodes": len(nodes), "nodes": nodes}


ADAPTERS: dict[str, Adapter] = {
    "escalation": escalation,
    "escalation_dose_paths": escalation_dose_paths,
    "dfcrm_crm": dfcrm_crm,
    "dfcrm_titecrm": dfcrm_crm,
    "dfcrm_getprior": dfcrm_getprior,
    "boin_get_boundary": boin_get_boundary,
    "boin_select_mtd": boin_select_mtd,
    "boin_next_comb": boin_next_comb,
    "boin_select_mtd_comb": boin_select_mtd_comb,
    "posterior_stopping": posterior_stopping,
    "posterior_stopping_table": posterior_stopping_table,
    "tree_stopping": tree_stopping,
    **SIMULATION_ADAPTERS,
}
