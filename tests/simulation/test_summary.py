"""Monte Carlo estimates, operating characteristics and stop reasons, on hand-made trials."""

from __future__ import annotations

import math

import numpy as np

from dosefinding_server.engine.outcomes import parse_outcome_string
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.simulation.escalation import stopped_by
from dosefinding_server.engine.simulation.estimates import mean, proportion, ratio, standard_deviation
from dosefinding_server.engine.simulation.records import StopReason, Trials, label_reasons
from dosefinding_server.engine.simulation.scenario import Scenario
from dosefinding_server.engine.simulation.summary import summarise


def test_estimates_and_their_standard_errors() -> None:
    x = np.array([1.0, 2.0, 4.0, 7.0])
    assert mean(x).value == 3.5 and math.isclose(mean(x).mc_se, x.std(ddof=1) / 2)
    hits = np.array([True, False, False, True, True])
    assert proportion(hits).value == 0.6 and math.isclose(proportion(hits).mc_se, math.sqrt(0.6 * 0.4 / 5))
    numerator, denominator = np.array([1.0, 3.0, 0.0]), np.array([3.0, 6.0, 3.0])
    r = ratio(numerator, denominator)
    assert r.value == 4 / 12
    assert math.isclose(r.mc_se, math.sqrt(np.sum((numerator - r.value * denominator) ** 2) / 6) / 4)
    normal = np.random.default_rng(1).normal(size=20_000)
    sd = standard_deviation(normal)
    assert abs(sd.value - 1) < 0.02 and math.isclose(sd.mc_se, 1 / math.sqrt(2 * 20_000), rel_tol=0.05)


def table(recommended: list[int], n_at: list[list[int]], reasons: list[StopReason]) -> Trials:
    n = np.array(n_at, dtype=np.int32)
    codes, labels = label_reasons(reasons)
    return Trials(np.array(recommended, dtype=np.int32), n, n // 3, np.zeros_like(n), codes, labels)


def test_operating_characteristics() -> None:
    stop = StopReason("stop_at_n", 1)
    trials = table([2, 3, 0, 2], [[3, 6, 0], [3, 3, 6], [3, 0, 0], [6, 6, 0]],
                   [stop, stop, StopReason("boin", 0), stop])
    # doses 2 and 3 are equally close to the target (0.25 - 0.2 = 0.3 - 0.25 up to rounding)
    summary = summarise(trials, Scenario((0.1, 0.2, 0.3)), target=0.25)
    assert summary.correct_doses == (2, 3)
    assert summary.prob_correct_selection is not None and summary.prob_correct_selection.value == 0.75
    assert summary.prob_no_dose.value == 0.25 and summary.doses[1].prob_recommend.value == 0.5
    assert summary.mean_sample_size.value == 9.0
    assert summary.doses[0].prob_administer.value == 15 / 36
    assert summary.prob_overdosed is not None and summary.prob_overdosed.value == 0.0
    assert [(s.reason, s.count) for s in summary.stop_reasons] == [(StopReason("boin", 0), 1), (stop, 3)]
    given = summarise(trials, Scenario((0.1, 0.2, 0.3), correct_doses=(1,)), target=0.25)
    assert given.correct_doses == (1,) and given.prob_overdosed is not None
    assert given.prob_overdosed.value == 21 / 36


def test_the_stage_that_stopped_a_revived_trial() -> None:
    """demand_n_at_dose revives a trial stop_at_n stopped; the stop that sticks is the last one."""
    design = build_design([{"stage": "boin", "num_doses": 5, "target": 0.3}, {"stage": "stop_at_n", "n": 3},
                           {"stage": "demand_n_at_dose", "n": 6, "dose": 1}, {"stage": "stop_at_n", "n": 9}])
    assert stopped_by(design.fit(parse_outcome_string("1NNN 2NNN"))) is None
    assert stopped_by(design.fit(parse_outcome_string("1NNN 2NNN 3NNN"))) == StopReason("stop_at_n", 3)
    assert stopped_by(design.fit(parse_outcome_string("1NNN 1NNN"))) == StopReason("stop_at_n", 1)
    assert stopped_by(design.fit(parse_outcome_string("1TTT"))) == StopReason("boin", 0)
