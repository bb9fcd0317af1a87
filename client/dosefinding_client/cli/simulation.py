"""``dosefinding simulate``: operating characteristics of designs by Monte Carlo simulation (SimulateTrials).

Each ``--truth`` is a scenario; each design file (the first, then every
``--compare``) is simulated in every scenario on the same seed, so trial i
of every design treats the same patients.  With ``--backfill-plan`` each
design is also simulated with the file's backfill plan and/or expansion plan
(the file ``trial create --plan`` takes, plus the simulation's arrival
settings), and each is contrasted trial by trial with escalation only.
Progress goes to standard error; the table (or, with ``--json``, the
result) to standard output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

import grpc

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import simulation_service_pb2 as spb

from ..client import DoseFindingClient, ServiceError
from ..designs import load_design
from ..files import PLAN_FILE, message_from, read_as, read_json
from ..words import enum_word
from . import numbers, render

#: TrialConduct fields a plan file may set besides its plans
ARRIVAL_FIELDS = ("backfill_per_cohort", "expansion_size", "stratum_probabilities", "select_with_expansion")
#: the width of the progress bar, in characters
BAR = 30


def register(commands: Any) -> None:
    simulate = commands.add_parser("simulate", help="operating characteristics by simulation (SimulateTrials)")
    simulate.add_argument("design", help="design file")
    simulate.add_argument("--truth", action="append", required=True, metavar="P1,P2,...",
                          help="true toxicity probability per dose (repeatable: one scenario each)")
    simulate.add_argument("--compare", action="append", default=[], metavar="DESIGN",
                          help="another design file to simulate on the same patients (repeatable)")
    simulate.add_argument("--trials", type=numbers.int32, default=1000, help="trials per design and scenario")
    simulate.add_argument("--seed", type=numbers.uint64, default=1,
                          help="the seed: the same seed, the same results (default 1)")
    simulate.add_argument("--cohort-size", type=numbers.int32, default=3, help="patients per cohort (default 3)")
    simulate.add_argument("--max-patients", type=numbers.int32, help="the most escalation patients a trial may have")
    simulate.add_argument("--target", type=float, help="target toxicity (correct dose: the closest to it)")
    simulate.add_argument("--backfill-plan", metavar="PLAN", help='JSON file with "backfill" and/or "expansion" '
                          f"plans and the arrival settings ({', '.join(ARRIVAL_FIELDS)})")
    simulate.add_argument("--backfill-per-cohort", type=numbers.int32,
                          help="patients arriving during each escalation cohort")
    simulate.add_argument("--expansion-size", type=numbers.int32, help="patients randomised in the expansion")
    simulate.add_argument("--workers", type=numbers.int32, default=1,
                          help="server worker processes (results never change)")
    simulate.set_defaults(handler=simulate_designs)


def _truth(text: str) -> list[float]:
    try:
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise ValueError(f"--truth {text!r}: expected comma-separated probabilities") from None


def conducts(path: str | None, backfill_per_cohort: int | None, expansion_size: int | None
             ) -> list[spb.TrialConduct]:
    """Escalation only, then one conduct per plan in the file (with backfill; with expansion)."""
    if path is None:
        return []
    data = read_json(path, PLAN_FILE)
    plan = read_as(lambda: message_from(data, ("backfill", "expansion", *ARRIVAL_FIELDS), spb.TrialConduct()),
                   path, PLAN_FILE)
    if backfill_per_cohort is not None:
        plan.backfill_per_cohort = backfill_per_cohort
    if expansion_size is not None:
        plan.expansion_size = expansion_size
    found = [spb.TrialConduct(label="escalation only")]
    if plan.HasField("backfill"):
        if not plan.backfill_per_cohort:
            raise ValueError(f"{path} has a backfill plan: give backfill_per_cohort or --backfill-per-cohort")
        found.append(spb.TrialConduct(label="with backfill", backfill=plan.backfill,
                                      backfill_per_cohort=plan.backfill_per_cohort))
    if plan.HasField("expansion"):
        if not plan.expansion_size:
            raise ValueError(f"{path} has an expansion plan: give expansion_size or --expansion-size")
        found.append(spb.TrialConduct(label="with expansion", expansion=plan.expansion,
                                      expansion_size=plan.expansion_size,
                                      stratum_probabilities=plan.stratum_probabilities,
                                      select_with_expansion=plan.select_with_expansion))
    if len(found) == 1:
        raise ValueError(f"{path} has neither a backfill nor an expansion plan")
    return found


def simulate_designs(client: DoseFindingClient, args: argparse.Namespace) -> spb.SimulationResult | str:
    files = [args.design, *args.compare]
    request = spb.SimulateTrialsRequest(
        designs=[load_design(f) for f in files],
        scenarios=[spb.SimulationScenario(true_prob_tox=_truth(t), label=t) for t in args.truth],
        cohort_size=args.cohort_size, num_trials=args.trials, seed=args.seed, workers=args.workers,
        conducts=conducts(args.backfill_plan, args.backfill_per_cohort, args.expansion_size))
    if args.max_patients is not None:
        request.max_patients = args.max_patients
    if args.target is not None:
        request.target = args.target
    result = final_result(client.stream(client.simulations.SimulateTrials, request, timeout=args.timeout),
                          Progress(sys.stderr))
    return result if args.json else render_result(result, [Path(f).name for f in files])


class Progress:
    """A bar of ``#`` with a percentage on ``out``: redrawn in place on a terminal, else a line per tenth."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.terminal = out.isatty()
        self.shown = -1  # the last tenth (or, on a terminal, percent) shown

    def update(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        step = percent if self.terminal else percent // 10
        if step == self.shown:
            return
        self.shown = step
        filled = BAR * done // max(total, 1)
        line = f"[{'#' * filled}{' ' * (BAR - filled)}] {percent:3d}%  {done}/{total} trials"
        self.out.write(f"\r{line}" if self.terminal else f"{line}\n")
        if self.terminal and done >= total:
            self.out.write("\n")
        self.out.flush()


def final_result(events: Iterator[spb.SimulateTrialsResponse], progress: Progress) -> spb.SimulationResult:
    """The result at the end of the stream, showing progress on the way."""
    for event in events:
        if event.HasField("progress"):
            progress.update(event.progress.trials_done, event.progress.trials_total)
        else:
            return event.result
    raise ServiceError(grpc.StatusCode.INTERNAL, "the simulation ended without a result")


def _estimate(e: spb.MonteCarloEstimate, digits: int = 3, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{e.value:{sign}.{digits}f} (± {e.mc_se:.{digits}f})"


def render_result(result: spb.SimulationResult, design_names: Sequence[str]) -> str:
    """One block per design, conduct and scenario, then the conducts' contrasts with escalation only."""
    blocks = [f"{result.num_trials} trials per design and scenario, seed {result.seed}; "
              "(± Monte Carlo standard error)"]
    blocks += [_summary_block(s, design_names[s.design_index]) for s in result.summaries]
    if result.contrasts:
        labels = {s.conduct_index: s.conduct_label for s in result.summaries}
        blocks.append(_contrasts_block(result.contrasts, labels, design_names,
                                       {s.scenario_index: s.scenario_label for s in result.summaries}))
    return "\n\n".join(blocks)


def _phase(counts: spb.PhaseCounts) -> str:
    return enum_word(outcomes_pb2.TreatmentPhase.DESCRIPTOR, counts.phase) or "escalation"


def _by_phase(phases: Sequence[spb.PhaseCounts], shown: Sequence[int], toxicities: bool = False) -> str:
    """`` (escalation 30.00, backfill 13.43)`` when more than one phase treated patients."""
    if len(shown) < 2:
        return ""
    values = [phases[p].mean_toxicities if toxicities else phases[p].mean_patients for p in shown]
    return " (" + ", ".join(f"{_phase(phases[p])} {v.value:.2f}" for p, v in zip(shown, values)) + ")"


def _summary_block(s: spb.SimulationSummary, design: str) -> str:
    """Per dose: P(recommend), mean patients (by phase) and toxicities; then PCS, patients below the MTD,
    sample size, toxicities (by phase) and stop reasons."""
    conduct = f", {s.conduct_label}" if s.conduct_label else ""
    correct = ", ".join(map(str, s.correct_doses)) or "-"
    shown = [p for p, counts in enumerate(s.phases) if counts.mean_patients.value > 0]
    rows: list[list[Any]] = [["P(recommend)"] + [render.number(d.prob_recommend.value) for d in s.doses]
                             + [render.number(s.prob_no_dose.value)]]
    rows.append(["patients"] + [f"{d.mean_patients.value:.2f}" for d in s.doses] + [""])
    if len(shown) > 1:
        rows += [[f"  {_phase(s.phases[p])}"] + [f"{d.phases[p].mean_patients.value:.2f}" for d in s.doses] + [""]
                 for p in shown]
    rows.append(["toxicities"] + [f"{d.mean_toxicities.value:.2f}" for d in s.doses] + [""])
    lines = [f"{design}{conduct} | truth {s.scenario_label} | correct dose {correct}",
             render.table(["dose"] + [str(d.dose) for d in s.doses] + ["none"], rows)]
    if s.HasField("prob_correct_selection"):
        lines.append(f"PCS {_estimate(s.prob_correct_selection)}   "
                     f"patients below the MTD {_estimate(s.mean_patients_below_mtd, 2)}")
    lines.append(f"sample size {_estimate(s.mean_sample_size, 2)}{_by_phase(s.phases, shown)}")
    lines.append(f"toxicities {_estimate(s.mean_toxicities, 2)}{_by_phase(s.phases, shown, toxicities=True)}")
    stops = ", ".join(f"{r.reason}{f' (stage {r.stage_index})' if r.HasField('stage_index') else ''} "
                      f"{100 * r.share.value:.1f}%" for r in s.stop_reasons)
    lines.append(f"stopped by: {stops}")
    return "\n".join(lines)


def _contrasts_block(contrasts: Sequence[spb.ConductContrast], conducts: dict[int, str],
                     designs: Sequence[str], scenarios: dict[int, str]) -> str:
    rows = [[designs[c.design_index], scenarios[c.scenario_index], f"{conducts[c.conduct_index]} - {conducts[0]}",
             _estimate(c.prob_correct_selection, signed=True) if c.HasField("prob_correct_selection") else "-",
             _estimate(c.mean_patients_below_mtd, 2, True) if c.HasField("mean_patients_below_mtd") else "-",
             _estimate(c.mean_sample_size, 2, True), _estimate(c.mean_toxicities, 2, True)]
            for c in contrasts]
    return "Paired differences (same simulated patients):\n" + render.table(
        ["design", "truth", "conduct", "PCS", "below MTD", "sample size", "toxicities"], rows)
