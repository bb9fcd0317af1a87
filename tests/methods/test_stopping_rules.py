"""Dynamic stopping rules against independent calculations.

Posterior rules against scipy's beta distribution (an independent
implementation of the incomplete beta function's tails); the tree-based rule
against brute-force enumeration of every toxicity sequence.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dosefinding_server.engine.decision import decide
from dosefinding_server.engine.outcomes import Outcomes, Patient, parse_outcome_string
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.stopping.posterior import PosteriorRule, Rule
from dosefinding_server.engine.stopping.tree import tree_stopping

CRM = {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}


@settings(max_examples=200, deadline=None)
@given(theta=st.floats(0.05, 0.95), alpha=st.floats(0.1, 5), beta=st.floats(0.1, 5),
       n=st.integers(0, 60), data=st.data())
def test_posterior_tail_probabilities_match_scipy(theta, alpha, beta, n, data):
    events = data.draw(st.integers(0, n))
    posterior = stats.beta(alpha + events, beta + n - events)
    toxicity = PosteriorRule(Rule.TOXICITY, theta, 0.9, alpha, beta)
    futility = PosteriorRule(Rule.FUTILITY, theta, 0.9, alpha, beta)
    assert toxicity.probability(n, events) == pytest.approx(posterior.sf(theta), abs=1e-12)
    assert futility.probability(n, events) == pytest.approx(posterior.cdf(theta), abs=1e-12)


@pytest.mark.parametrize("rule", [Rule.TOXICITY, Rule.FUTILITY])
def test_the_boundary_table_is_the_first_count_that_stops(rule):
    posterior_rule = PosteriorRule(rule, 0.3, 0.8, 1, 1)
    for n, boundary in posterior_rule.table(30):
        stops = [e for e in range(n + 1) if stats.beta(1 + e, 1 + n - e).sf(0.3) > 0.8] if rule is Rule.TOXICITY \
            else [e for e in range(n + 1) if stats.beta(1 + e, 1 + n - e).cdf(0.3) > 0.8]
        expected = (min(stops) if rule is Rule.TOXICITY else max(stops)) if stops else None
        assert boundary == expected, n


def brute_force_reachable(stages: list[dict], outcomes: Outcomes, k: int) -> set[int]:
    """Every dose recommended along every sequence of k toxicity outcomes, fitted from scratch."""
    design = build_design(stages)
    reachable = set()
    for sequence in itertools.product((False, True), repeat=k):
        current = outcomes
        for depth in range(k + 1):
            dose = decide(design, current).recommended_dose
            reachable.add(dose)
            if depth == k or dose is None:
                break
            current = current.extended([Patient(dose, sequence[depth])])
    return reachable


@pytest.mark.parametrize("outcomes, k", [("1NNN 2NNT", 3), ("1NNN 2NNN 3TNT 2NNN", 4), ("", 2),
                                         ("1NNN 2NNN 3NTN 3NNN 3NNT 3NTN 3NNN", 3)])
@pytest.mark.parametrize("stages", [[CRM], [CRM, {"stage": "dont_skip_doses", "when_escalating": True}]])
def test_tree_rule_matches_brute_force_enumeration(stages, outcomes, k):
    parsed = parse_outcome_string(outcomes, 5)
    result = tree_stopping(build_design(stages), parsed, k)
    reachable = brute_force_reachable(stages, parsed, k)
    assert set(result.doses_reachable) == reachable - {None}
    assert result.stop == (reachable == {result.recommended_dose})


def test_stop_when_tree_stable_stops_exactly_when_the_tree_rule_does():
    stages = [CRM, {"stage": "stop_when_tree_stable", "k": 2}]
    for text in ("1NNN", "1NNN 2NNN 3NTN 3NNN 3NNT 3NTN 3NNN 3NNN 3NNN 3NTN 3NNN 3NNN"):
        outcomes = parse_outcome_string(text, 5)
        expected = tree_stopping(build_design([CRM]), outcomes, 2).stop
        assert decide(build_design(stages), outcomes).continues is not expected


def test_posterior_toxicity_stage_stops_with_no_dose_when_the_lowest_dose_is_too_toxic():
    stages = [CRM, {"stage": "stop_when_posterior_toxic", "dose": 1, "theta": 0.3, "confidence": 0.9}]
    assert decide(build_design(stages), parse_outcome_string("1NNT", 5)).continues
    toxic = decide(build_design(stages), parse_outcome_string("1TTT", 5))
    assert toxic.recommended_dose is None and not toxic.continues
    assert toxic.doses[0].admissible is False


def test_posterior_futility_stage_reads_responses():
    stages = [{"stage": "boin12", "num_doses": 3, "phi_t": 0.35, "phi_e": 0.25, "u1": 100, "u2": 40, "u3": 60,
               "u4": 0, "n_star": 6, "c_t": 0.95, "c_e": 0.9},
              {"stage": "stop_when_posterior_futile", "dose": 1, "theta": 0.3, "confidence": 0.9}]
    design = build_design(stages)
    futile = decide(design, parse_outcome_string("1NNN 1NNN 1NNN", 3, efficacy=True), efficacy_thresholds=())
    responding = decide(design, parse_outcome_string("1EEN 1NEE", 3, efficacy=True))
    assert not futile.continues and futile.recommended_dose is None
    assert responding.continues
