"""Several designs in several scenarios, on common random numbers (escalation's ``simulate_compare``).

Every (design, scenario) pair is simulated with the same seed, so trial i
of each pair treats the same patients (:mod:`.randomness`): differences
between designs are then not blurred by different patients (Sweeting et al.
2024).  Progress is reported as chunks finish; the result holds, per pair,
its :class:`.summary.Summary` and its per-trial table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import InputError
from ..selector import Selector
from .escalation import EscalationJob, EscalationRule
from .records import Trials
from .runner import LocalRunner, Progress, Runner, run_jobs
from .scenario import Scenario, TrialSettings
from .summary import Summary, summarise


@dataclass(frozen=True)
class PairResult:
    """One design in one scenario."""

    design_index: int
    scenario_index: int
    summary: Summary
    trials: Trials


@dataclass(frozen=True)
class ComparisonResult:
    """Every design in every scenario, designs varying fastest within each scenario."""

    num_trials: int
    seed: int
    pairs: tuple[PairResult, ...]


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
) -> Iterator[Progress | ComparisonResult]:
    """Simulate ``num_trials`` trials of each design in each scenario; progress, then the result."""
    if not designs:
        raise InputError("designs", "give at least one design")
    if not scenarios:
        raise InputError("scenarios", "give at least one scenario")
    if target is not None and not 0.0 < target < 1.0:
        raise InputError("target", f"{target} is not strictly between 0 and 1")
    pairs = [(d, s) for s in range(len(scenarios)) for d in range(len(designs))]
    jobs = []
    for d, s in pairs:
        try:
            rule = EscalationRule(designs[d], scenarios[s].num_doses, memoise)
            jobs.append(EscalationJob(rule, scenarios[s], settings, seed))
        except InputError as error:
            raise error.prefixed(f"scenarios[{s}]") from None
    for event in run_jobs(jobs, num_trials, runner or LocalRunner(1), chunk_size):
        if isinstance(event, Progress):
            yield event
            continue
        yield ComparisonResult(num_trials, seed, tuple(
            PairResult(d, s, summarise(trials, scenarios[s], target), trials)
            for (d, s), trials in zip(pairs, event)
        ))
