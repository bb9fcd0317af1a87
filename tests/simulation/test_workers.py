"""The same seed gives byte-identical results for 1, 2 and 4 workers, any chunk size, and a Dask cluster,
escalation only and with backfill and randomised expansion."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.simulation import (
    BoinOcDesign,
    CrmSimDesign,
    LocalRunner,
    Runner,
    Scenario,
    TrialSettings,
    crmsim,
    final,
    get_oc,
    simulate_designs,
)
from dosefinding_server.engine.simulation.conduct import ESCALATION_ONLY
from dosefinding_server.engine.simulation.runner import Chunk

from .catalogue import DESIGNS, WITH_BOTH, WITH_FUTILITY, same_trials

TRIALS = 150
#: escalation only; backfill with a futility rule (the scenarios have efficacy); backfill and expansion
CONDUCTS = [ESCALATION_ONLY, WITH_FUTILITY, WITH_BOTH]


def simulate_everything(runner: Runner, chunk_size: int | None) -> list[Any]:
    """A comparison (with efficacy, under three conducts), a titrating get.oc and a two-stage MLE crmsim."""
    designs = [build_design(DESIGNS[name]) for name in ("crm", "boin revived", "boin12 futile")]
    scenarios = [Scenario((0.05, 0.1, 0.2, 0.3, 0.5), (0.2, 0.3, 0.4, 0.5, 0.5)),
                 Scenario((0.2, 0.3, 0.45, 0.6, 0.7), (0.1, 0.1, 0.2, 0.2, 0.3))]
    comparison = final(simulate_designs(designs, scenarios, TrialSettings(), TRIALS, 11, target=0.25,
                                        runner=runner, chunk_size=chunk_size, conducts=CONDUCTS))
    oc = final(get_oc(BoinOcDesign(target=0.3, ncohort=8, cohortsize=3, titration=True, n_earlystop=12),
                      (0.05, 0.15, 0.3, 0.45, 0.6), TRIALS, 12, runner=runner, chunk_size=chunk_size))
    crm = CrmSimDesign(prior=(0.05, 0.1, 0.2, 0.35, 0.5), target=0.2, n=12, x0=(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 5),
                       mcohort=2, method="mle")
    sim = final(crmsim(crm, (0.1, 0.2, 0.3, 0.45, 0.6), TRIALS, 13, runner=runner, chunk_size=chunk_size))
    return [comparison, oc, sim]


def assert_identical(a: list[Any], b: list[Any]) -> None:
    comparison_a, oc_a, sim_a = a
    comparison_b, oc_b, sim_b = b
    for pair_a, pair_b in zip(comparison_a.pairs, comparison_b.pairs, strict=True):
        assert same_trials(pair_a.trials, pair_b.trials)
        assert pair_a.summary == pair_b.summary
    assert comparison_a.contrasts == comparison_b.contrasts and comparison_a.contrasts
    for one, other in ((oc_a, oc_b), (sim_a, sim_b)):
        assert same_trials(one.trials, other.trials)
        assert {k: v for k, v in vars(one).items() if k != "trials"} == \
            {k: v for k, v in vars(other).items() if k != "trials"}


@pytest.fixture(scope="module")
def reference() -> list[Any]:
    return simulate_everything(LocalRunner(1), None)


@pytest.fixture(scope="module")
def pools() -> Iterator[dict[int, LocalRunner]]:
    runners = {workers: LocalRunner(workers) for workers in (2, 4)}
    yield runners
    for runner in runners.values():
        runner.close()


@pytest.mark.parametrize("workers, chunk_size", [(1, 1), (1, 37), (2, 16), (2, 150), (4, 23)])
def test_workers_and_chunks_change_nothing(reference: list[Any], pools: dict[int, LocalRunner],
                                           workers: int, chunk_size: int) -> None:
    runner = LocalRunner(1) if workers == 1 else pools[workers]
    assert_identical(simulate_everything(runner, chunk_size), reference)


def test_a_dask_cluster_gives_the_local_result(reference: list[Any]) -> None:
    distributed = pytest.importorskip("distributed")
    from dosefinding_server.engine.simulation.dask_runner import DaskRunner

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        assert_identical(simulate_everything(DaskRunner(client), 40), reference)


@dataclass(frozen=True)
class WhichWorker:
    """A job whose chunks take a moment and answer with the process that ran them."""

    def run(self, start: int, stop: int) -> Any:
        time.sleep(0.05)
        return os.getpid()


def test_every_worker_of_a_new_pool_takes_chunks_from_the_first_call() -> None:
    """A worker starts in about a second; the first call must not queue every chunk for the first one up."""
    with LocalRunner(2) as runner:
        ran_in = {pid for _, pid in runner.map_unordered([Chunk(WhichWorker(), i, i + 1) for i in range(4)])}
    assert len(ran_in) == 2 and os.getpid() not in ran_in
