"""``dosefinding.v1.DecisionService``: stateless decisions and calculations.

Each method translates its request to one engine call and the result back.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

import grpc
import numpy as np
from google.protobuf.message import Message

from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import decision_service_pb2 as pb
from dosefinding.v1 import decision_service_pb2_grpc as pb_grpc
from dosefinding_server.engine.decision import decide
from dosefinding_server.engine.decision_table import Action, decision_table
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.numerics import boin_boundary, boin_comb, boin_mtd, dfcrm, getprior
from dosefinding_server.engine.stopping.posterior import PosteriorRule, Rule
from dosefinding_server.engine.stopping.tree import tree_stopping
from dosefinding_client.words import enum_word
from dosefinding_server.version import ENGINE_VERSION

from .calls import current_call
from .translate import (
    decision_to_proto,
    design_from_proto,
    design_sha256,
    message_params,
    outcomes_from_proto,
    set_optional,
)

T = TypeVar("T")


def _rows(matrix: Any) -> list[list[int]]:
    return [list(row.values) for row in matrix]


def engine_call(function: Callable[..., T], request: Message, *, skip: tuple[str, ...] = (), **given: Any) -> T:
    """Call an engine function with the request's set fields as keyword arguments.

    Fields in ``skip`` are translated by the caller and passed in ``given``.  A
    parameter without a default that the request leaves unset is refused as a
    missing field, so the engine never sees a guessed value.
    """
    params = {k: v for k, v in message_params(request).items() if k not in skip} | given
    for name, parameter in inspect.signature(function).parameters.items():
        required = parameter.default is inspect.Parameter.empty and parameter.kind is not parameter.VAR_KEYWORD
        if required and name not in params:
            raise InputError(name, "is required")
    return function(**params)


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
        digest = design_sha256(request.design)
        current_call().design_sha256 = digest
        return pb.EvaluateDesignResponse(
            decision=decision_to_proto(decision), design_sha256=digest, engine_version=ENGINE_VERSION)

    def FitCrm(self, request: calc.FitCrmRequest, context: grpc.ServicerContext) -> calc.FitCrmResponse:
        given: dict[str, Any] = {}
        if request.followup:
            if not request.HasField("obswin"):
                raise InputError("obswin", "follow-up times need an observation window")
            scheme = enum_word(calc.TiteScheme.DESCRIPTOR, request.scheme) or "linear"
            given["weights"] = dfcrm.tite_weights(tuple(request.followup), request.obswin, tuple(request.tox),
                                                  tuple(request.level), scheme=scheme)
        tite = bool(request.followup or request.weights)
        result = engine_call(dfcrm.crm, request, skip=("followup", "obswin", "scheme"), tite=tite, **given)
        response = calc.FitCrmResponse(
            mtd=result.mtd, estimate=result.estimate, post_var=result.post_var,
            prior_var=result.prior_var, weights=list(result.weights),
        )
        for index, (scaled, ptox, lower, upper) in enumerate(zip(
                result.dosescaled, result.ptox, result.ptox_lower, result.ptox_upper)):
            estimate = response.doses.add(dose=index + 1, dosescaled=scaled, ptox=ptox)
            set_optional(estimate, "ptox_lower", lower)
            set_optional(estimate, "ptox_upper", upper)
        return response

    def CalibrateSkeleton(self, request: calc.CalibrateSkeletonRequest, context: grpc.ServicerContext
                          ) -> calc.CalibrateSkeletonResponse:
        return calc.CalibrateSkeletonResponse(skeleton=list(engine_call(getprior.getprior, request)))

    def GetBoinBoundaries(self, request: calc.GetBoinBoundariesRequest, context: grpc.ServicerContext
                          ) -> calc.GetBoinBoundariesResponse:
        table = engine_call(boin_boundary.get_boundary, request)
        response = calc.GetBoinBoundariesResponse(
            lambda_e=table.lambda_e, lambda_d=table.lambda_d, boundary_tab_n=list(table.boundary_tab_n))
        for row in table.rows:
            entry = response.rows.add(n=row.n, escalate_if_le=row.escalate_if_le,
                                      deescalate_if_ge=row.deescalate_if_ge)
            set_optional(entry, "eliminate_if_ge", row.eliminate_if_ge)
        set_optional(response, "cutoff", table.cutoff)
        for stop in table.stop_rows or ():
            set_optional(response.stop_rows.add(n=stop.n), "stop_if_ge", stop.stop_if_ge)
        return response

    def SelectBoinMtd(self, request: calc.SelectBoinMtdRequest, context: grpc.ServicerContext
                      ) -> calc.SelectBoinMtdResponse:
        result = engine_call(boin_mtd.select_mtd, request)
        response = calc.SelectBoinMtdResponse()
        set_optional(response, "mtd", result.mtd)
        for estimate, overdose in zip(result.p_est, result.p_overdose):
            entry = response.doses.add(dose=estimate.dose)
            for name in ("phat", "ci_low", "ci_high"):
                set_optional(entry, name, getattr(estimate, name))
            set_optional(entry, "p_overdose", overdose)
        return response

    def NextBoinCombination(self, request: calc.NextBoinCombinationRequest,
                            context: grpc.ServicerContext) -> calc.NextBoinCombinationResponse:
        if not request.HasField("current"):
            raise InputError("current", "is required: the dose combination now being given")
        current_call().seed = request.seed
        generator = np.random.default_rng(np.random.SeedSequence(request.seed))
        result = engine_call(
            boin_comb.next_comb, request, skip=("npts", "ntox", "current", "seed"),
            npts=_rows(request.npts), ntox=_rows(request.ntox),
            dose_curr=(request.current.a, request.current.b), rng=generator,
        )
        response = calc.NextBoinCombinationResponse(random_tie=result.random_tie)
        if result.next_dc is not None:
            response.next.a, response.next.b = result.next_dc
        for candidate in result.candidates:
            if candidate is not None:
                response.candidates.add(a=candidate[0], b=candidate[1])
        return response

    def SelectBoinCombinationMtd(self, request: calc.SelectBoinCombinationMtdRequest,
                                 context: grpc.ServicerContext) -> calc.SelectBoinCombinationMtdResponse:
        result = engine_call(boin_comb.select_mtd_comb, request, skip=("npts", "ntox"),
                             npts=_rows(request.npts), ntox=_rows(request.ntox))
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
            set_optional(response.rows.add(n=n), "boundary", boundary)
        return response

    def EvaluateTreeStopping(self, request: calc.EvaluateTreeStoppingRequest,
                             context: grpc.ServicerContext) -> calc.EvaluateTreeStoppingResponse:
        design = design_from_proto(request.design)
        result = tree_stopping(design, outcomes_from_proto(request.outcomes, design), request.k)
        response = calc.EvaluateTreeStoppingResponse(
            doses_reachable=list(result.doses_reachable), stop=result.stop, nodes=result.nodes)
        set_optional(response, "recommended_dose", result.recommended_dose)
        return response

    def GetDecisionTable(self, request: pb.GetDecisionTableRequest, context: grpc.ServicerContext
                         ) -> pb.GetDecisionTableResponse:
        design = design_from_proto(request.design)
        previous = outcomes_from_proto(request.previous_outcomes, design, "previous_outcomes")
        response = pb.GetDecisionTableResponse()
        for row in decision_table(design, request.dose, request.max_n, previous):
            entry = response.rows.add(n=row.n)
            for name in ("escalate_if_le", "deescalate_if_ge", "eliminate_if_ge"):
                set_optional(entry, name, getattr(row, name))
            for cell in row.cells:
                set_optional(entry.cells.add(toxicities=cell.toxicities, action=_ACTIONS[cell.action]),
                     "next_dose", cell.next_dose)
        return response


_ACTIONS = {action: pb.DoseAction.Value(f"DOSE_ACTION_{action.name}") for action in Action}
