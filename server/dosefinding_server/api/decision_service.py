"""``dosefinding.v1.DecisionService``: stateless decisions and calculations.

Each method translates its request to one engine call and the result back.
"""

from __future__ import annotations

from typing import Any

import grpc

from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import decision_service_pb2 as pb
from dosefinding.v1 import decision_service_pb2_grpc as pb_grpc
from dosefinding_server.engine.decision import decide
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.numerics import boin_boundary, boin_comb, boin_mtd, dfcrm, getprior
from dosefinding_server.engine.stopping.posterior import PosteriorRule, Rule
from dosefinding_server.engine.stopping.tree import tree_stopping
from dosefinding_client.words import enum_word
from dosefinding_server.version import ENGINE_VERSION

from .translate import (
    decision_to_proto,
    design_from_proto,
    design_sha256,
    message_params,
    outcomes_from_proto,
)


def _rows(matrix: Any) -> list[list[int]]:
    return [list(row.values) for row in matrix]


def _posterior_rule(request: Any) -> PosteriorRule:
    word = enum_word(calc.PosteriorRule.DESCRIPTOR, request.rule)
    if word is None:
        raise InputError("rule", "set POSTERIOR_RULE_TOXICITY or POSTERIOR_RULE_FUTILITY")
    return PosteriorRule(Rule(word), request.theta, request.confidence,
                         request.prior_alpha, request.prior_beta)


class DecisionService(pb_grpc.DecisionServiceServicer):
    """Translates DecisionService calls to the engine."""

    def EvaluateDesign(self, request: pb.EvaluateDesignRequest, context: grpc.ServicerContext
                       ) -> pb.EvaluateDesignResponse:
        design = design_from_proto(request.design)
        outcomes = outcomes_from_proto(request.outcomes, design)
        decision = decide(design, outcomes, tuple(request.quantiles), tuple(request.tox_thresholds),
                          tuple(request.eff_thresholds))
        return pb.EvaluateDesignResponse(
            decision=decision_to_proto(decision),
            design_sha256=design_sha256(request.design),
            engine_version=ENGINE_VERSION,
        )

    def FitCrm(self, request: calc.FitCrmRequest, context: grpc.ServicerContext) -> calc.FitCrmResponse:
        params = message_params(request)
        tox, level = params.pop("tox", ()), params.pop("level", ())
        prior, target = params.pop("prior", ()), params.pop("target", 0.0)
        followup, obswin = params.pop("followup", None), params.pop("obswin", None)
        scheme = params.pop("scheme", "linear")
        if followup is not None:
            if obswin is None:
                raise InputError("obswin", "follow-up times need an observation window")
            params["weights"] = dfcrm.tite_weights(followup, obswin, tox, level, scheme=scheme)
        tite = "weights" in params
        result = dfcrm.crm(prior, target, tox, level, tite=tite, **params)
        response = calc.FitCrmResponse(
            mtd=result.mtd, estimate=result.estimate, post_var=result.post_var,
            prior_var=result.prior_var, weights=list(result.weights),
        )
        for index, (scaled, ptox, lower, upper) in enumerate(zip(
                result.dosescaled, result.ptox, result.ptox_lower, result.ptox_upper)):
            estimate = response.doses.add(dose=index + 1, dosescaled=scaled, ptox=ptox)
            if lower is not None:
                estimate.ptox_lower = lower
            if upper is not None:
                estimate.ptox_upper = upper
        return response

    def CalibrateSkeleton(self, request: calc.CalibrateSkeletonRequest, context: grpc.ServicerContext
                          ) -> calc.CalibrateSkeletonResponse:
        params = message_params(request)
        skeleton = getprior.getprior(
            params.pop("halfwidth", 0.0), params.pop("target", 0.0),
            params.pop("nu", 0), params.pop("nlevel", 0), **params,
        )
        return calc.CalibrateSkeletonResponse(skeleton=list(skeleton))

    def GetBoinBoundaries(self, request: calc.GetBoinBoundariesRequest, context: grpc.ServicerContext
                          ) -> calc.GetBoinBoundariesResponse:
        params = message_params(request)
        table = boin_boundary.get_boundary(
            params.pop("target", 0.0), params.pop("ncohort", 0), params.pop("cohortsize", 0), **params)
        response = calc.GetBoinBoundariesResponse(
            lambda_e=table.lambda_e, lambda_d=table.lambda_d, boundary_tab_n=list(table.boundary_tab_n))
        for row in table.rows:
            entry = response.rows.add(n=row.n, escalate_if_le=row.escalate_if_le,
                                      deescalate_if_ge=row.deescalate_if_ge)
            if row.eliminate_if_ge is not None:
                entry.eliminate_if_ge = row.eliminate_if_ge
        if table.cutoff is not None:
            response.cutoff = table.cutoff
        for row in table.stop_rows:
            entry = response.stop_rows.add(n=row.n)
            if row.stop_if_ge is not None:
                entry.stop_if_ge = row.stop_if_ge
        return response

    def SelectBoinMtd(self, request: calc.SelectBoinMtdRequest, context: grpc.ServicerContext
                      ) -> calc.SelectBoinMtdResponse:
        params = message_params(request)
        result = boin_mtd.select_mtd(
            params.pop("target", 0.0), params.pop("npts", ()), params.pop("ntox", ()), **params)
        response = calc.SelectBoinMtdResponse()
        if result.mtd is not None:
            response.mtd = result.mtd
        for estimate, overdose in zip(result.doses, result.p_overdose):
            entry = response.doses.add(dose=estimate.dose)
            for name in ("phat", "ci_low", "ci_high"):
                value = getattr(estimate, name)
                if value is not None:
                    setattr(entry, name, value)
            if overdose is not None:
                entry.p_overdose = overdose
        return response

    def NextBoinCombination(self, request: calc.NextBoinCombinationRequest,
                            context: grpc.ServicerContext) -> calc.NextBoinCombinationResponse:
        import numpy as np

        params = message_params(request)
        params.pop("current", None)
        seed = params.pop("seed", 0)
        result = boin_comb.next_comb(
            params.pop("target", 0.0), _rows(request.npts), _rows(request.ntox),
            (request.current.a, request.current.b),
            rng=np.random.default_rng(np.random.SeedSequence(seed)),
            **{k: v for k, v in params.items() if k not in ("npts", "ntox")},
        )
        response = calc.NextBoinCombinationResponse(random_tie=result.random_tie)
        if result.next is not None:
            response.next.a, response.next.b = result.next
        for a, b in result.candidates:
            response.candidates.add(a=a, b=b)
        return response

    def SelectBoinCombinationMtd(self, request: calc.SelectBoinCombinationMtdRequest,
                                 context: grpc.ServicerContext) -> calc.SelectBoinCombinationMtdResponse:
        params = message_params(request)
        result = boin_comb.select_mtd_comb(
            params.pop("target", 0.0), _rows(request.npts), _rows(request.ntox),
            **{k: v for k, v in params.items() if k not in ("npts", "ntox")},
        )
        response = calc.SelectBoinCombinationMtdResponse()
        for a, b in result.mtd:
            response.mtd.add(a=a, b=b)
        for row in result.p_est:
            response.p_est.add(values=list(row))
        return response

    def EvaluatePosteriorStopping(self, request: calc.EvaluatePosteriorStoppingRequest,
                                  context: grpc.ServicerContext) -> calc.EvaluatePosteriorStoppingResponse:
        rule = _posterior_rule(request)
        probability = rule.probability(request.n, request.events)
        return calc.EvaluatePosteriorStoppingResponse(
            probability=probability, stop=probability > rule.confidence)

    def GetPosteriorStoppingTable(self, request: calc.GetPosteriorStoppingTableRequest,
                                  context: grpc.ServicerContext) -> calc.GetPosteriorStoppingTableResponse:
        response = calc.GetPosteriorStoppingTableResponse()
        for n, boundary in _posterior_rule(request).table(request.max_n):
            row = response.rows.add(n=n)
            if boundary is not None:
                row.boundary = boundary
        return response

    def EvaluateTreeStopping(self, request: calc.EvaluateTreeStoppingRequest,
                             context: grpc.ServicerContext) -> calc.EvaluateTreeStoppingResponse:
        design = design_from_proto(request.design)
        result = tree_stopping(design, outcomes_from_proto(request.outcomes, design), request.k)
        response = calc.EvaluateTreeStoppingResponse(
            doses_reachable=list(result.doses_reachable), stop=result.stop, nodes=result.nodes)
        if result.recommended_dose is not None:
            response.recommended_dose = result.recommended_dose
        return response
