"""Commands for statisticians: evaluate a design, BOIN boundaries, skeletons, dose paths."""

from __future__ import annotations

import argparse
from typing import Any

from dosefinding.v1 import calculations_pb2 as calc
from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import design_pb2, outcomes_pb2
from dosefinding.v1 import simulation_service_pb2 as spb

from ..client import DoseFindingClient
from ..designs import load_design
from ..fields import optional
from ..words import word_enum
from . import numbers, render


def register(commands: Any) -> None:
    evaluate = commands.add_parser("evaluate", help="fit a design file to an outcome string")
    evaluate.add_argument("design", help="design file (JSON stage list or the proto's JSON mapping)")
    evaluate.add_argument("outcomes", nargs="?", default="", help='outcome string, e.g. "1NNN 2NTN"')
    evaluate.add_argument("--quantile", type=float, action="append", dest="quantiles",
                          help="toxicity quantile to report (repeatable; default 0.05 and 0.95)")
    evaluate.add_argument("--exceeds", type=float, action="append", dest="thresholds",
                          help="report P(toxicity > T) (repeatable)")
    evaluate.set_defaults(handler=evaluate_design, render=lambda r: render.decision(r.decision))

    bounds = commands.add_parser("boundaries", help="BOIN boundary table (BOIN::get.boundary)")
    bounds.add_argument("--target", type=float, required=True, help="target toxicity probability")
    bounds.add_argument("--ncohort", type=numbers.int32, required=True, help="number of cohorts in the trial")
    bounds.add_argument("--cohortsize", type=numbers.int32, required=True, help="patients per cohort")
    bounds.add_argument("--cutoff-eli", type=float,
                        help="posterior probability of toxicity above target that eliminates a dose (default 0.95)")
    bounds.add_argument("--p-saf", type=float,
                        help="highest toxicity probability deemed sub-therapeutic (default 0.6 x target)")
    bounds.add_argument("--p-tox", type=float,
                        help="lowest toxicity probability deemed overly toxic (default 1.4 x target)")
    bounds.add_argument("--extrasafe", action="store_true",
                        help="add the stricter stopping rule at the lowest dose (cutoff-eli less offset)")
    bounds.add_argument("--offset", type=float, help="how much stricter the extra-safe cutoff is (default 0.05)")
    bounds.set_defaults(handler=boundaries, render=render_boundaries)

    skeleton = commands.add_parser("skeleton", help="calibrate a CRM skeleton (dfcrm::getprior)")
    skeleton.add_argument("--halfwidth", type=float, required=True,
                          help="half-width of the indifference interval around the target")
    skeleton.add_argument("--target", type=float, required=True, help="target toxicity probability")
    skeleton.add_argument("--nu", type=numbers.int32, required=True, help="prior MTD level")
    skeleton.add_argument("--nlevel", type=numbers.int32, required=True, help="number of dose levels")
    skeleton.add_argument("--model", choices=["empiric", "logistic"], default="empiric",
                          help="the CRM's dose-toxicity model (default empiric)")
    skeleton.add_argument("--intcpt", type=float, help="the logistic model's fixed intercept (default 3)")
    skeleton.set_defaults(handler=calibrate, render=lambda r: "skeleton: " + ", ".join(f"{p:.4f}" for p in r.skeleton))

    decisions = commands.add_parser("table", help="a protocol's decision table for any design")
    decisions.add_argument("design", help="design file")
    decisions.add_argument("--dose", type=numbers.int32, required=True, help="the current dose")
    decisions.add_argument("--max-n", type=numbers.int32, default=12, help="patients at the dose (rows 1..N)")
    decisions.add_argument("--previous", default="", help="outcomes before the patients at the dose")
    decisions.set_defaults(handler=decision_table, render=render_decision_table)

    paths = commands.add_parser("paths", help="all dose paths for the next cohorts")
    paths.add_argument("design", help="design file")
    paths.add_argument("cohort_sizes", type=numbers.int32, nargs="+", help="the size of each cohort to come, in order")
    paths.add_argument("--previous", default="", help="outcomes so far")
    paths.add_argument("--next-dose", type=numbers.int32,
                       help="the dose of the first cohort to come (default: what the design recommends now)")
    paths.set_defaults(handler=dose_paths, render=render_paths)


def evaluate_design(client: DoseFindingClient, args: argparse.Namespace) -> dpb.EvaluateDesignResponse:
    request = dpb.EvaluateDesignRequest(
        design=load_design(args.design),
        outcomes=outcomes_pb2.Outcomes(outcome_string=args.outcomes),
        quantiles=args.quantiles or [0.05, 0.95],
        tox_thresholds=args.thresholds or [],
    )
    return client.call(client.decisions.EvaluateDesign, request)


def boundaries(client: DoseFindingClient, args: argparse.Namespace) -> calc.GetBoinBoundariesResponse:
    request = calc.GetBoinBoundariesRequest(target=args.target, ncohort=args.ncohort, cohortsize=args.cohortsize)
    for name in ("cutoff_eli", "p_saf", "p_tox", "offset"):
        if getattr(args, name) is not None:
            setattr(request, name, getattr(args, name))
    if args.extrasafe:
        request.extrasafe = True
    return client.call(client.decisions.GetBoinBoundaries, request)


def render_boundaries(response: calc.GetBoinBoundariesResponse) -> str:
    rows = [[r.n, r.escalate_if_le, r.deescalate_if_ge, optional(r, "eliminate_if_ge") or "-"]
            for r in response.rows]
    head = f"lambda_e = {response.lambda_e:.4f}, lambda_d = {response.lambda_d:.4f}\n"
    return head + render.table(["patients", "escalate if tox <=", "de-escalate if tox >=", "eliminate if tox >="], rows)


def calibrate(client: DoseFindingClient, args: argparse.Namespace) -> calc.CalibrateSkeletonResponse:
    request = calc.CalibrateSkeletonRequest(
        halfwidth=args.halfwidth, target=args.target, nu=args.nu, nlevel=args.nlevel,
        model=word_enum(design_pb2.CrmModel.DESCRIPTOR, args.model))
    if args.intcpt is not None:
        request.intcpt = args.intcpt
    return client.call(client.decisions.CalibrateSkeleton, request)


def dose_paths(client: DoseFindingClient, args: argparse.Namespace) -> spb.GetDosePathsResponse:
    request = spb.GetDosePathsRequest(
        design=load_design(args.design),
        previous_outcomes=outcomes_pb2.Outcomes(outcome_string=args.previous),
        cohort_sizes=args.cohort_sizes)
    if args.next_dose is not None:
        request.next_dose = args.next_dose
    return client.call(client.simulations.GetDosePaths, request)


def render_paths(response: spb.GetDosePathsResponse) -> str:
    lines = []
    for node in response.nodes:
        dose = optional(node, "next_dose")
        label = node.pathway.split(" ")[-1] if node.pathway else "(now)"
        verdict = f"dose {dose}" if dose is not None else "no dose"
        lines.append(f"{'  ' * node.depth}{label} -> {verdict}{'' if node.continue_trial else ', stop'}")
    return "\n".join(lines)


def decision_table(client: DoseFindingClient, args: argparse.Namespace) -> dpb.GetDecisionTableResponse:
    request = dpb.GetDecisionTableRequest(
        design=load_design(args.design), dose=args.dose, max_n=args.max_n,
        previous_outcomes=outcomes_pb2.Outcomes(outcome_string=args.previous))
    return client.call(client.decisions.GetDecisionTable, request)


def render_decision_table(response: dpb.GetDecisionTableResponse) -> str:
    def bound(row: dpb.DecisionTableRow, name: str) -> str:
        value = optional(row, name)
        return "-" if value is None else str(value)
    rows = [[r.n, bound(r, "escalate_if_le"), bound(r, "deescalate_if_ge"), bound(r, "eliminate_if_ge")]
            for r in response.rows]
    return render.table(["patients at dose", "escalate if tox <=", "de-escalate if tox >=",
                         "eliminate if tox >="], rows)
