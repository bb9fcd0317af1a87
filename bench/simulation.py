"""Simulated trials per second, on both cores, against R's figures measured on this machine.

R's rates (escalation 0.2.3, BOIN 2.7.2, dfcrm 0.2-2.1, R 4.2): escalation's
``simulate_trials`` 27 trials/s for a CRM and 21 for BOIN (n = 30 in cohorts
of 3), ``BOIN::get.oc`` 1,550 trials/s, ``dfcrm::crmsim`` 36 trials/s (n = 30
in cohorts of 1).  Each case runs 10,000 and then 100,000 trials, each time on
a fresh pool of two worker processes, started before the clock starts (as a
running server keeps one), so every fit a design needs is paid for: fits are
memoised per distinct state, so the rate grows with the number of trials.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from dosefinding_server.engine.registry import build_design, stage_kinds
from dosefinding_server.engine.simulation import (
    BoinOcDesign,
    CrmSimDesign,
    LocalRunner,
    Progress,
    Scenario,
    TrialSettings,
    crmsim,
    final,
    get_oc,
    simulate_designs,
)

TRIAL_COUNTS = (10_000, 100_000)
WORKERS = 2
SKELETON = (0.05, 0.1, 0.25, 0.4, 0.6)
TRUE_TOX = (0.05, 0.12, 0.25, 0.4, 0.55)
#: name -> (R's trials per second, the simulation of a number of trials on a runner)
CASES: dict[str, tuple[float, Callable[[LocalRunner, int], Iterator[Any]]]] = {
    "escalation crm, n=30 in cohorts of 3": (27.0, lambda runner, trials: simulate_designs(
        [build_design([{"stage": "crm", "skeleton": SKELETON, "target": 0.25}, {"stage": "stop_at_n", "n": 30}])],
        [Scenario(TRUE_TOX)], TrialSettings(cohort_size=3), trials, 1, runner=runner)),
    "escalation boin, n=30 in cohorts of 3": (21.0, lambda runner, trials: simulate_designs(
        [build_design([{"stage": "boin", "num_doses": 5, "target": 0.25}, {"stage": "stop_at_n", "n": 30}])],
        [Scenario(TRUE_TOX)], TrialSettings(cohort_size=3), trials, 2, runner=runner)),
    "BOIN get.oc, n=30 in cohorts of 3": (1550.0, lambda runner, trials: get_oc(
        BoinOcDesign(target=0.3, ncohort=10, cohortsize=3), (0.05, 0.15, 0.3, 0.45, 0.6), trials, 3, runner=runner)),
    "dfcrm crmsim, n=30 in cohorts of 1": (36.0, lambda runner, trials: crmsim(
        CrmSimDesign(prior=SKELETON, target=0.25, n=30, x0=1), (0.05, 0.1, 0.2, 0.35, 0.5), trials, 4,
        runner=runner)),
}


def _warm_up(runner: LocalRunner) -> None:
    """Start the worker processes (imports) on a design no case uses; this process imports every stage
    module, as a running server has."""
    stage_kinds()
    final(get_oc(BoinOcDesign(target=0.2, ncohort=4, cohortsize=2), (0.1, 0.2, 0.3), 8 * WORKERS, 0,
                 runner=runner, chunk_size=4))


def run() -> list[dict[str, Any]]:
    """Trials per second for each case and number of trials, and the ratio to R's rate."""
    rows = []
    for name, (r_rate, simulate) in CASES.items():
        for trials in TRIAL_COUNTS:
            with LocalRunner(WORKERS) as runner:
                _warm_up(runner)
                started = time.perf_counter()
                result = final(simulate(runner, trials))
                seconds = time.perf_counter() - started
            assert not isinstance(result, Progress)
            rate = trials / seconds
            rows.append({"case": name, "trials": trials, "workers": WORKERS, "seconds": seconds,
                         "trials_per_second": rate, "r_trials_per_second": r_rate, "ratio_to_r": rate / r_rate})
    return rows
