"""The search of ``bench trials`` for the highest rate that keeps p99 under the target (no server: a model)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import trials

#: a service whose p99 grows with the rate and crosses the 10 ms target at 200 decisions/s
MS_PER_RATE = trials.P99_TARGET_MS / 200.0


def modelled(rate: float, served: float = 1.0) -> dict[str, Any]:
    return {"offered_per_second": rate, "decisions_per_second": served * rate, "p99_ms": MS_PER_RATE * rate}


@pytest.fixture
def probed(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    rates: list[float] = []

    def paced(_server: object, rate: float) -> dict[str, Any]:
        rates.append(rate)
        return modelled(rate)

    monkeypatch.setattr(trials, "paced", paced)
    return rates


def test_the_bound_closes_in_on_the_rate_where_p99_crosses_the_target(probed: list[float]) -> None:
    bound = trials.p99_bound(None, [modelled(rate) for rate in trials.PACED_RATES])
    assert bound["highest_rate_meeting_p99_target"] < 200.0 <= bound["lowest_rate_missing_p99_target"]
    assert bound["lowest_rate_missing_p99_target"] - bound["highest_rate_meeting_p99_target"] <= 250.0 / 2 ** 4
    assert len(probed) == trials.P99_SEARCH_STEPS
    assert [rate for rate, _ in bound["probes_rate_and_p99_ms"]] == probed
    assert bound["share_of_rate_target"] == bound["highest_rate_meeting_p99_target"] / trials.RATE_TARGET


def test_a_rate_not_served_misses_the_target_however_low_its_p99(probed: list[float]) -> None:
    behind = modelled(100.0, served=0.9)
    assert behind["p99_ms"] < trials.P99_TARGET_MS and not trials.meets_p99_target(behind)
    bound = trials.p99_bound(None, [modelled(50.0), behind])
    assert bound["highest_rate_meeting_p99_target"] >= 50.0
    assert bound["lowest_rate_missing_p99_target"] <= 100.0


def test_when_every_paced_run_meets_the_target_nothing_more_is_probed(probed: list[float]) -> None:
    bound = trials.p99_bound(None, [modelled(50.0), modelled(100.0)])
    assert probed == []
    assert bound["highest_rate_meeting_p99_target"] == 100.0
    assert bound["lowest_rate_missing_p99_target"] is None
