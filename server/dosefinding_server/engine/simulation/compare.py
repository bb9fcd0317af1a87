"""Several designs, conducts and scenarios, on common random numbers (escalation's ``simulate_compare``).

Every (design, conduct, scenario) triple is simulated with the same seed, so
trial i of each treats the same patients (:mod:`.randomness`): differences
between designs, or between one design run escalation-only, with backfill or
with expansion (:mod:`.conduct`), are then not blurred by different patients
(Sweeting et al. 2024).  Progress is reported as chunks finish; the result
holds, per triple, its :class:`.summary.Summary` and its per-trial table,
and, for every conduct after the first, its paired contrast with the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import InputError
from ..selector import Selector
from .conduct import ESCALATION_ONLY, Conduct
from .escalation import EscalationJob, EscalationRule
from .records import Trials
from .runner import LocalRunner, Progress, Runner, run_jobs
from .scenario import Scenario, TrialSettings
from .summary import Contrast, Summary, contrast, summarise


@dataclass(frozen=True)
class PairResult:
    """One design in one scenario under one conduct."""

    design_index: int
    scenario_index: int
    summary: Summary
    trials: Trials
    conduct_index: int = 0


@dataclass(frozen=True)
class ConductContrast:
    """A design in a scenario under conduct ``conduct_index`` minus the same under the first conduct."""

    design_index: int
    scenario_index: int
    conduct_index: int
    contrast: Contrast


@dataclass(frozen=True)
class ComparisonResult:
    """Every design under every conduct in every scenario: designs vary fastest, then conducts, then scenarios."""

    num_trials: int
    seed: int
    pairs: tuple[PairResult, ...]
    contrasts: tuple[ConductContrast, ...] = ()


def simulate_designs(
    designs: Sequence[Selector],
    scenarios: Sequence[Scenario],
    settings: TrialSettings,
    num_trials: int,
    seed: int,
    *,
    target: float | None = None,
    runner: Runner | None = None,
    chunk_size: int | None = None,
    memoise: bool = True,
    conducts: Sequence[Conduct] = (ESCALATION_ONLY,),
) -> Iterator[Progress | ComparisonResult]:
    """Simulate ``num_trials`` trials of each design under each conduct in each scenario; progress, then the
    result."""
    if not designs:
        raise InputError("designs", "give at least one design")
    if not scenarios:
        raise InputError("scenarios", "give at least one scenario")
    if not conducts:
        raise InputError("conducts", "give at least one conduct")
    if target is not None and not 0.0 < target < 1.0:
        raise InputError("target", f"{target} is not strictly between 0 and 1")
    triples = [(d, c, s) for s in range(len(scenarios)) for c in range(len(conducts)) for d in range(len(designs))]
    jobs = []
    for d, c, s in triples:
        conduct = conducts[c]
        try:
            conduct.check(scenarios[s].num_doses)
        except InputError as error:
            raise error.prefixed(f"conducts[{c}]") from None
        try:
            rule = EscalationRule(designs[d], scenarios[s].num_doses, memoise,
                                  conduct.backfill.plan if conduct.backfill else None)
            jobs.append(EscalationJob(rule, scenarios[s], settings, seed, conduct))
        except InputError as error:
            raise error.prefixed(f"scenarios[{s}]") from None
    for event in run_jobs(jobs, num_trials, runner or LocalRunner(1), chunk_size):
        if isinstance(event, Progress):
            yield event
            continue
        tables = dict(zip(triples, event))
        pairs = tuple(PairResult(d, s, summarise(tables[d, c, s], scenarios[s], target), tables[d, c, s], c)
                      for d, c, s in triples)
        contrasts = tuple(ConductContrast(d, s, c, contrast(tables[d, 0, s], tables[d, c, s], scenarios[s], target))
                          for d, c, s in triples if c > 0)
        yield ComparisonResult(num_trials, seed, pairs, contrasts)
