"""TPI, mTPI, mTPI-2, BOIN12, 3+3, follow_path and the select_*_mtd rules against R's escalation 0.2.3.

One test per published ``escalation`` case whose design uses any of these
stages (alone or chained with other cores and behaviours), named by the case
id; the documented README and vignette examples by name; 3+3's strict mode;
and parameter checks that name the offending field.
"""

from __future__ import annotations

from typing import Any

import pytest

from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.outcomes import parse_outcome_string
from dosefinding_server.engine.registry import build_design
from tests.engine.reference import disagreements, escalation_actual, escalation_cases, load_cases

#: the stages this module tests
STAGES = frozenset({
    "tpi", "mtpi", "mtpi2", "boin12", "three_plus_three", "follow_path",
    "select_tpi_mtd", "select_mtpi_mtd", "select_mtpi2_mtd",
})
#: stages implemented elsewhere that the published chains combine with them
OTHER_STAGES = frozenset({
    "crm", "boin", "select_boin_mtd", "select_dose_by_cibp",
    "stop_at_n", "dont_skip_doses", "stop_when_n_at_dose", "stop_when_too_toxic",
    "stop_when_tox_ci_covered", "demand_n_at_dose", "try_rescue_dose", "stick_on_num_tox",
    "unadmit_untested", "expand_last_dose_to_cohort",
})

CASES = [c for c in escalation_cases(*STAGES, *OTHER_STAGES) if STAGES & {s["stage"] for s in c["design"]}]
BY_ID = {c["id"]: c for c in load_cases("escalation")}


def check(case: dict[str, Any]) -> None:
    problems = disagreements(case, escalation_actual(case))
    assert problems == [], f"{case['id']} {case['r_call']}: " + "; ".join(problems[:5])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_escalation_case(case: dict[str, Any]) -> None:
    check(case)


def test_every_chain_of_these_stages_is_covered() -> None:
    """No published chain that uses these stages is left out for want of another stage."""
    uses_these = [c["id"] for c in load_cases("escalation") if STAGES & {s["stage"] for s in c["design"]}]
    assert [c["id"] for c in CASES] == uses_these
    assert STAGES <= {s["stage"] for c in CASES for s in c["design"]}


# The examples of escalation's README and vignettes, with the decision the documentation states.
DOCUMENTED = [
    ("readme_3plus3_clean_cohort_escalates", "esc-p-00001", 2, True),
    ("readme_3plus3_one_toxicity_stays", "esc-p-00002", 3, True),
    ("readme_3plus3_two_in_six_stops_below", "esc-p-00003", 2, False),
    ("readme_3plus3_start_at_dose_2", "esc-p-00014", 2, True),
    ("readme_3plus3_allow_deescalate", "esc-p-00015", 1, True),
    ("readme_3plus3_no_quantiles", "esc-p-00030", 2, True),
    ("readme_get_tpi", "esc-p-00006", 1, True),
    ("readme_get_mtpi", "esc-p-00007", 1, True),
    ("readme_get_mtpi2", "esc-p-00008", 1, True),
    ("readme_get_boin12", "esc-p-00013", 2, True),
    ("readme_follow_path_on_path", "esc-p-00016", 2, True),
    ("readme_follow_path_next_cohort", "esc-p-00017", 3, True),
    ("readme_follow_path_off_path", "esc-p-00018", None, False),
    ("readme_follow_path_then_dfcrm", "esc-p-00019", 2, True),
    ("vignette_tpi_ji2007_stay", "esc-p-00042", 1, True),
    ("vignette_tpi_escalate_after_nine", "esc-p-00043", 2, True),
    ("vignette_tpi_deescalate", "esc-p-00044", 1, True),
    ("vignette_tpi_select_tpi_mtd", "esc-p-00045", 2, False),
    ("vignette_mtpi_ji2010_stay", "esc-p-00046", 1, True),
    ("vignette_mtpi_escalate", "esc-p-00047", 2, True),
    ("vignette_mtpi_deescalate", "esc-p-00048", 1, True),
    ("vignette_mtpi_select_mtpi_mtd", "esc-p-00049", 2, False),
]


@pytest.mark.parametrize("case_id, dose, goes_on", [d[1:] for d in DOCUMENTED], ids=[d[0] for d in DOCUMENTED])
def test_documented_example(case_id: str, dose: int | None, goes_on: bool) -> None:
    case = BY_ID[case_id]
    assert case["source"].startswith(("README", "vignette"))
    actual = escalation_actual(case)
    assert (actual["recommended_dose"], actual["continue"]) == (dose, goes_on)
    check(case)


def test_documented_examples_are_all_listed() -> None:
    documented = {c["id"] for c in CASES if c.get("source", "").startswith(("README", "vignette"))}
    assert documented == {d[1] for d in DOCUMENTED}


def fit(design: list[dict[str, Any]], outcomes: str) -> Any:
    built = build_design(design)
    return built.fit(parse_outcome_string(outcomes, built.num_doses, efficacy=built.efficacy))


def three_plus_three(allow_deescalate: bool = False) -> list[dict[str, Any]]:
    return [{"stage": "three_plus_three", "num_doses": 5, "allow_deescalate": allow_deescalate}]


@pytest.mark.parametrize("outcomes, why", [
    ("1NNNN", "without toxicity has been given to more than 3"),
    ("1NNT 1NNT 1N", "more than 6 patients"),
    ("1NNN 3NNN", "skipped"),
    ("1NNT 1N 2NN", "several cohorts"),
    ("1NT 2NNN", "other than the last one is incomplete"),
])
def test_three_plus_three_refuses_outcomes_it_cannot_produce(outcomes: str, why: str) -> None:
    with pytest.raises(InputError) as raised:
        fit(three_plus_three(), outcomes)
    violation = raised.value.violations[0]
    assert violation.field == "outcomes" and why in violation.description


def test_three_plus_three_with_deescalation_accepts_returning_to_a_clean_dose() -> None:
    """Korn et al.'s de-escalation puts three more patients on a dose cleared earlier."""
    korn = fit(three_plus_three(allow_deescalate=True), "1NNN 2TTN 1NNN")
    assert (korn.recommended_dose(), korn.continues()) == (1, False)
    with pytest.raises(InputError):
        fit(three_plus_three(), "1NNN 2TTN 1NNN")


TPI = {"stage": "tpi", "num_doses": 5, "target": 0.25, "k1": 1, "k2": 1.5, "exclusion_certainty": 0.95}
MTPI = {"stage": "mtpi", "num_doses": 5, "target": 0.25, "epsilon1": 0.05, "epsilon2": 0.05,
        "exclusion_certainty": 0.95}
BOIN12 = {"stage": "boin12", "num_doses": 5, "phi_t": 0.35, "phi_e": 0.25, "u2": 40, "u3": 60}


@pytest.mark.parametrize("stages, field", [
    ([{**TPI, "target": 1.5}], "design.stages[0].tpi.target"),
    ([{**TPI, "num_doses": 0}], "design.stages[0].tpi.num_doses"),
    ([{**TPI, "k2": -1}], "design.stages[0].tpi.k2"),
    ([{**TPI, "alpha": 0}], "design.stages[0].tpi.alpha"),
    ([{**MTPI, "epsilon1": 0}], "design.stages[0].mtpi.epsilon1"),
    ([{**MTPI, "epsilon1": 0.25}], "design.stages[0].mtpi.epsilon1"),
    ([{**MTPI, "epsilon2": 0.75}], "design.stages[0].mtpi.epsilon2"),
    ([{**MTPI, "stage": "mtpi2", "exclusion_certainty": -0.1}], "design.stages[0].mtpi2.exclusion_certainty"),
    ([{**BOIN12, "u2": 120}], "design.stages[0].boin12.u2"),
    ([{**BOIN12, "start_dose": 6}], "design.stages[0].boin12.start_dose"),
    ([{**BOIN12, "phi_e": 1}], "design.stages[0].boin12.phi_e"),
    ([{"stage": "three_plus_three", "num_doses": 0}], "design.stages[0].three_plus_three.num_doses"),
    ([{"stage": "follow_path", "path": "1NX"}], "design.stages[0].follow_path.path"),
    ([TPI, {"stage": "select_tpi_mtd", "exclusion_certainty": 0.9, "when": "sometimes"}],
     "design.stages[1].select_tpi_mtd.when"),
    ([TPI, {"stage": "select_mtpi2_mtd", "exclusion_certainty": 0.9, "pava_just_tested_doses": "yes"}],
     "design.stages[1].select_mtpi2_mtd.pava_just_tested_doses"),
    ([TPI, {"stage": "select_mtpi_mtd", "exclusion_certainty": 0.9, "target": 0}],
     "design.stages[1].select_mtpi_mtd.target"),
])
def test_impossible_parameters_name_their_field(stages: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(InputError) as raised:
        build_design(stages)
    assert raised.value.violations[0].field == field


def test_select_mtd_needs_a_target_when_the_design_has_none() -> None:
    with pytest.raises(InputError) as raised:
        fit([*three_plus_three(), {"stage": "select_tpi_mtd", "exclusion_certainty": 0.9}], "1NNN")
    assert raised.value.violations[0].field == "target"


def test_reasons_say_what_was_decided() -> None:
    trace = fit([MTPI, {"stage": "select_mtpi_mtd", "exclusion_certainty": 0.95, "when": "always"}],
                "1NNN 2NTN").trace()
    assert trace[0].reason.startswith("mTPI at dose 2 (1/3 toxic): UPM highest for")
    assert "mTPI's MTD rule" in trace[1].reason
