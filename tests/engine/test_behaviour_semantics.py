"""escalation's behaviours: its documented worked examples, edge semantics, and parameter checks.

The first group replays the README and vignette examples (reference cases
whose ``source`` names them), each test named after its example, asserting
the documented answer and full agreement with R.  The second group pins
semantics on a scripted core, independent of any model: what each behaviour
does with no patients, no recommended dose, undefined probabilities.  The
last group checks that impossible parameters are rejected naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from dosefinding_server.engine.behaviours.demand_n_at_dose import DemandNAtDose
from dosefinding_server.engine.behaviours.dont_skip_doses import DontSkipDoses
from dosefinding_server.engine.behaviours.expand_last_dose_to_cohort import ExpandLastDoseToCohort
from dosefinding_server.engine.behaviours.select_dose_by_cibp import SelectDoseByCibp
from dosefinding_server.engine.behaviours.stick_on_num_tox import StickOnNumTox
from dosefinding_server.engine.behaviours.stop_at_n import StopAtN
from dosefinding_server.engine.behaviours.stop_when_n_at_dose import StopWhenNAtDose
from dosefinding_server.engine.behaviours.stop_when_too_toxic import StopWhenTooToxic
from dosefinding_server.engine.behaviours.stop_when_tox_ci_covered import StopWhenToxCiCovered
from dosefinding_server.engine.behaviours.try_rescue_dose import TryRescueDose
from dosefinding_server.engine.behaviours.unadmit_untested import UnadmitUntested
from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.fit import AdmissibleVector, CoreFit, Fit, ProbVector
from dosefinding_server.engine.outcomes import Outcomes, parse_outcome_string
from dosefinding_server.engine.registry import build_design
from dosefinding_server.engine.selector import Role, Selector

from .reference import disagreements, escalation_actual, load_cases

CASES = {c["id"]: c for c in load_cases("escalation")}


def replay(case_id: str, source: str) -> Fit:
    """Fit a worked example's design to its outcomes; it must agree with R in every field."""
    case = CASES[case_id]
    assert case["source"] == source, "the reference file no longer holds this example under this id"
    assert disagreements(case, escalation_actual(case)) == []
    design = build_design(case["design"])
    return design.fit(parse_outcome_string(case["outcomes"], design.num_doses))


def answer(fit: Fit) -> tuple[int | None, bool]:
    return fit.recommended_dose(), fit.continues()


# ---------------------------------------------------------------------------------------------
# README and vignette examples.

def test_readme_dont_skip_doses_escalates_one_level_at_a_time() -> None:
    fit = replay("esc-p-00020", "README dont_skip_doses")
    assert fit.parent_fit().recommended_dose() == 4  # the CRM alone would skip dose 3
    assert answer(fit) == (3, True)


def test_readme_stop_at_n_continues_with_12_patients() -> None:
    assert answer(replay("esc-p-00021", "README stop_at_n")) == (3, True)


def test_readme_stop_at_n_stops_at_15_and_still_recommends_a_dose() -> None:
    assert answer(replay("esc-p-00022", "README stop_at_n")) == (3, False)


def test_readme_stop_when_n_at_recommended_dose_continues_with_6_at_dose_2() -> None:
    assert answer(replay("esc-p-00023", "README stop_when_n_at_dose")) == (2, True)


def test_readme_stop_when_n_at_recommended_dose_stops_with_9_at_dose_2() -> None:
    assert answer(replay("esc-p-00024", "README stop_when_n_at_dose")) == (2, False)


def test_readme_stop_when_n_at_any_dose_stops_with_9_at_dose_2() -> None:
    assert answer(replay("esc-p-00025", "README stop_when_n_at_dose any")) == (2, False)


def test_readme_stop_when_n_at_dose_3_ignores_9_at_dose_2() -> None:
    assert answer(replay("esc-p-00026", "README stop_when_n_at_dose dose=3")) == (2, True)


def test_readme_stop_when_n_at_dose_or_stop_at_n_whichever_first() -> None:
    assert answer(replay("esc-p-00027", "README stop_when_n_at_dose + stop_at_n")) == (2, False)


def test_readme_stop_when_tox_ci_covered_stops_boin() -> None:
    assert answer(replay("esc-p-00028", "README stop_when_tox_ci_covered boin")) == (2, False)


def test_readme_stop_when_tox_ci_covered_does_not_stop_crm() -> None:
    assert answer(replay("esc-p-00029", "README stop_when_tox_ci_covered dfcrm")) == (2, True)


def test_readme_stop_when_too_toxic_continues_after_one_toxicity_at_dose_1() -> None:
    assert answer(replay("esc-p-00031", "README stop_when_too_toxic")) == (1, True)


def test_readme_stop_when_too_toxic_stops_without_a_dose_after_four_toxicities() -> None:
    assert answer(replay("esc-p-00032", "README stop_when_too_toxic")) == (None, False)


def test_readme_stop_when_too_toxic_stops_boin_without_a_dose() -> None:
    assert answer(replay("esc-p-00033", "README stop_when_too_toxic boin")) == (None, False)


def test_readme_demand_n_at_dose_after_stop_at_n_keeps_the_trial_going() -> None:
    assert answer(replay("esc-p-00034", "README demand_n_at_dose")) == (2, True)


def test_readme_stop_at_n_after_demand_n_at_dose_stops_the_trial() -> None:
    assert answer(replay("esc-p-00035", "README demand_n_at_dose order swapped")) == (2, False)


def test_readme_try_rescue_dose_tries_dose_1_after_toxicity_at_dose_2() -> None:
    fit = replay("esc-p-00036", "README try_rescue_dose")
    assert fit.parent_fit().recommended_dose() is None
    assert answer(fit) == (1, True)


def test_readme_try_rescue_dose_continues_when_dose_1_is_tolerated() -> None:
    assert answer(replay("esc-p-00037", "README try_rescue_dose")) == (1, True)


def test_readme_try_rescue_dose_stops_after_toxicity_at_dose_1() -> None:
    assert answer(replay("esc-p-00038", "README try_rescue_dose")) == (None, False)


def test_readme_select_dose_by_cibp_stays_at_dose_1_after_one_toxicity_in_three() -> None:
    assert answer(replay("esc-p-00039", "README select_dose_by_cibp")) == (1, True)


@pytest.mark.parametrize("case_id, source", [
    ("esc-p-00045", "vignette A210-TPI select_tpi_mtd"),
    ("esc-p-00049", "vignette A220-mTPI select_mtpi_mtd"),
    ("esc-p-00054", "vignette A230-BOIN select_boin_mtd"),
])
def test_vignette_stop_at_12_then_select_the_mtd(case_id: str, source: str) -> None:
    fit = replay(case_id, source)
    assert fit.parent_fit().continues() is False  # stop_at_n(12) stopped the trial
    assert answer(fit) == (2, False)


# ---------------------------------------------------------------------------------------------
# Semantics on a scripted core: the behaviour alone decides what changes.

@dataclass(frozen=True, kw_only=True)
class Scripted(Selector):
    """A core whose answers are given, so that a behaviour's own logic is tested in isolation."""

    kind: ClassVar[str] = "scripted"
    role: ClassVar[Role] = Role.CORE

    doses: int = 5
    dose: int | None = 2
    go: bool = True
    exceeds: tuple[float | None, ...] | None = None
    lower: tuple[float | None, ...] | None = None
    upper: tuple[float | None, ...] | None = None
    admissible: tuple[bool | None, ...] | None = None
    target: float | None = None

    @property
    def num_doses(self) -> int:
        return self.doses

    def fit(self, outcomes: Outcomes) -> Fit:
        return self._stamp(ScriptedFit(self, outcomes))


@dataclass(frozen=True, kw_only=True)
class ScriptedCrm(Scripted):
    """A scripted core with a CRM-like posterior: β ~ N(0, ``variance``), P(tox) = skeleton^exp(β)."""

    skeleton: tuple[float, ...] = (0.1, 0.2, 0.3)
    variance: float = 1e-12

    def fit(self, outcomes: Outcomes) -> Fit:
        return self._stamp(ScriptedCrmFit(self, outcomes))


class ScriptedFit(CoreFit):
    def __init__(self, script: Scripted, outcomes: Outcomes) -> None:
        super().__init__(outcomes, script.doses)
        self.script = script

    def recommended_dose(self) -> int | None:
        return self.script.dose

    def continues(self) -> bool:
        return self.script.go

    def reason(self) -> str:
        return "scripted"

    def prob_tox_exceeds(self, threshold: float) -> ProbVector:
        return self.script.exceeds or self._none()

    def prob_tox_quantile(self, p: float) -> ProbVector:
        bounds = self.script.lower if p < 0.5 else self.script.upper
        return bounds or self._none()

    def dose_admissible(self) -> AdmissibleVector:
        return self.script.admissible or super().dose_admissible()

    def tox_target(self) -> float | None:
        return self.script.target


class ScriptedCrmFit(ScriptedFit):
    script: ScriptedCrm

    estimate = 0.0

    @property
    def post_var(self) -> float:
        return self.script.variance

    def prob_tox_at(self, beta: np.ndarray) -> np.ndarray:
        return np.power(np.asarray(self.script.skeleton), np.exp(beta)[..., None])


def run(behaviour: type[Selector], outcomes: str = "", core: Scripted | None = None, **params: Any) -> Fit:
    stage = behaviour(parent=core or Scripted(), index=1, **params)
    return stage.fit(parse_outcome_string(outcomes))


def test_dont_skip_doses_by_default_limits_escalation_only() -> None:
    assert run(DontSkipDoses, "1NNN", Scripted(dose=4)).recommended_dose() == 2
    assert run(DontSkipDoses, "4TTT", Scripted(dose=1)).recommended_dose() == 1


def test_dont_skip_doses_limits_deescalation_when_asked() -> None:
    fit = run(DontSkipDoses, "1NNN 2N 4TTT", Scripted(dose=1), when_deescalating=True)
    assert fit.recommended_dose() == 3


def test_dont_skip_doses_uses_the_last_patient_not_the_highest_dose() -> None:
    assert run(DontSkipDoses, "1NNN 4NNN 2N", Scripted(dose=5)).recommended_dose() == 3


def test_dont_skip_doses_leaves_no_patients_and_no_dose_alone() -> None:
    assert run(DontSkipDoses, "", Scripted(dose=4)).recommended_dose() == 4
    assert answer(run(DontSkipDoses, "1TTT", Scripted(dose=None, go=False))) == (None, False)


def test_stop_at_n_keeps_the_parents_stop() -> None:
    assert answer(run(StopAtN, "1NNN", Scripted(go=False), n=15)) == (2, False)


def test_stop_at_n_reason_states_count_and_dose() -> None:
    fit = run(StopAtN, "1NNN 2NNN 3NNN", Scripted(dose=3), n=9)
    assert fit.reason() == "stop_at_n: 9 patients treated >= 9, stop; dose 3 stands"


def test_stop_when_n_at_recommended_dose_without_a_dose_never_fires() -> None:
    fit = run(StopWhenNAtDose, "1NNN", Scripted(dose=None, go=True), n=3, dose="recommended")
    assert answer(fit) == (None, True)


def test_stop_when_too_toxic_never_fires_on_an_undefined_probability() -> None:
    core = Scripted(exceeds=(None, 0.1, 0.99, None, None))
    fit = run(StopWhenTooToxic, "2NNN 3TTT", core, dose=1, tox_threshold=0.35, confidence=0.7)
    assert answer(fit) == (2, True)
    assert fit.dose_admissible() == (None, True, False, None, None)


def test_stop_when_too_toxic_any_dose_stops_without_a_dose() -> None:
    core = Scripted(exceeds=(None, 0.1, 0.99, None, None))
    fit = run(StopWhenTooToxic, "2NNN 3TTT", core, dose="any", tox_threshold=0.35, confidence=0.7)
    assert answer(fit) == (None, False)


def test_stop_when_too_toxic_inadmissible_stays_inadmissible() -> None:
    core = Scripted(exceeds=(None, 0.1, 0.2, 0.3, 0.4), admissible=(False, True, True, False, False))
    fit = run(StopWhenTooToxic, "2NNN", core, dose=1, tox_threshold=0.35, confidence=0.7)
    assert fit.dose_admissible() == (False, True, True, False, False)


def test_stop_when_tox_ci_covered_needs_both_bounds_inside() -> None:
    core = Scripted(lower=(0.12, 0.05, None, None, None), upper=(0.38, 0.3, None, None, None))
    params = dict(lower=0.1, upper=0.4)
    assert run(StopWhenToxCiCovered, "1NNN", core, dose=1, **params).continues() is False
    assert run(StopWhenToxCiCovered, "1NNN", core, dose=2, **params).continues() is True
    assert run(StopWhenToxCiCovered, "1NNN", core, dose=3, **params).continues() is True


def test_demand_n_at_dose_overrides_a_stop_only_while_a_dose_is_recommended() -> None:
    assert answer(run(DemandNAtDose, "1NNN", Scripted(go=False), n=6, dose="any")) == (2, True)
    assert answer(run(DemandNAtDose, "1NNN", Scripted(dose=None, go=False), n=6, dose="any")) == (None, False)
    assert answer(run(DemandNAtDose, "1NNN 1NNN", Scripted(go=False), n=6, dose="any")) == (2, False)


def test_try_rescue_dose_admits_the_rescue_dose_until_tried() -> None:
    core = Scripted(dose=None, go=False, admissible=(False,) * 5)
    fit = run(TryRescueDose, "2TTT", core, dose=1, n=2)
    assert answer(fit) == (1, True)
    assert fit.dose_admissible() == (True, False, False, False, False)
    tried = run(TryRescueDose, "2TTT 1TT", core, dose=1, n=2)
    assert answer(tried) == (None, False)
    assert tried.dose_admissible() == (False,) * 5


def test_try_rescue_dose_leaves_a_recommended_dose_alone() -> None:
    assert answer(run(TryRescueDose, "2TTT", Scripted(dose=3, go=False), dose=1, n=2)) == (3, False)


def test_stick_on_num_tox_stays_at_the_last_dose_on_an_exact_count() -> None:
    stopped = Scripted(dose=1, go=False)
    assert answer(run(StickOnNumTox, "1NNN 2NTN", stopped, num_tox=1, num_patients=3)) == (2, True)
    assert answer(run(StickOnNumTox, "1NNN 2NTT", Scripted(dose=1), num_tox=1, num_patients=3)) == (1, True)
    assert answer(run(StickOnNumTox, "", Scripted(dose=1), num_tox=0, num_patients=3)) == (1, True)


def test_expand_last_dose_to_cohort_fills_the_last_dose_before_stopping() -> None:
    core = Scripted(dose=None, go=False)
    assert answer(run(ExpandLastDoseToCohort, "1NNN 2T", core, n=3)) == (2, True)
    assert answer(run(ExpandLastDoseToCohort, "1NNN 2TTT", core, n=3)) == (None, False)
    assert answer(run(ExpandLastDoseToCohort, "1NNN 2T", Scripted(dose=1), n=3)) == (1, True)


def test_unadmit_untested_admits_tested_doses_and_the_recommended_one() -> None:
    core = Scripted(dose=3, admissible=(True, False, True, True, True))
    assert run(UnadmitUntested, "1NNN 2TTT", core).dose_admissible() == (True, False, True, False, False)


def test_select_dose_by_cibp_with_a_below_1_prefers_the_less_toxic_of_two_equidistant_doses() -> None:
    core = ScriptedCrm(doses=3, dose=3, target=0.25)  # doses 2 and 3 lie 0.05 from the target
    assert answer(run(SelectDoseByCibp, "1NNN", core, a=0.3)) == (2, True)
    assert answer(run(SelectDoseByCibp, "1NNN", core, a=1.5)) == (3, True)


def test_select_dose_by_cibp_keeps_the_parents_dose_before_any_patient() -> None:
    assert answer(run(SelectDoseByCibp, "", Scripted(dose=1, target=0.25), a=0.3)) == (1, True)


@pytest.mark.parametrize("core, outcomes", [
    (Scripted(target=None), ""),  # no target, as 3+3
    (Scripted(target=0.25), "1NNN"),  # no posterior to integrate over, as BOIN
])
def test_select_dose_by_cibp_on_an_unsuitable_core_names_the_stage(core: Scripted, outcomes: str) -> None:
    with pytest.raises(InputError) as raised:
        run(SelectDoseByCibp, outcomes, core, a=0.3).recommended_dose()
    assert raised.value.violations[0].field == "design.stages[1].select_dose_by_cibp"


# ---------------------------------------------------------------------------------------------
# Parameters: an impossible value is rejected, naming the field.

@pytest.mark.parametrize("behaviour, params, field", [
    (StopAtN, {"n": 0}, "n"),
    (StopAtN, {"n": 2.5}, "n"),
    (StopWhenNAtDose, {"n": 3, "dose": "first"}, "dose"),
    (StopWhenNAtDose, {"n": 3, "dose": 0}, "dose"),
    (DemandNAtDose, {"n": -1, "dose": "any"}, "n"),
    (StopWhenTooToxic, {"dose": 1, "tox_threshold": 0.35, "confidence": 1.5}, "confidence"),
    (StopWhenTooToxic, {"dose": 1, "tox_threshold": 0.0, "confidence": 0.7}, "tox_threshold"),
    (StopWhenToxCiCovered, {"dose": "any", "lower": 0.4, "upper": 0.1}, "upper"),
    (StopWhenToxCiCovered, {"dose": "any", "lower": 0.1, "upper": 0.4, "width": 1.0}, "width"),
    (TryRescueDose, {"dose": "any", "n": 2}, "dose"),
    (TryRescueDose, {"dose": 1, "n": 0}, "n"),
    (StickOnNumTox, {"num_tox": 4, "num_patients": 3}, "num_tox"),
    (StickOnNumTox, {"num_tox": 1, "num_patients": 0}, "num_patients"),
    (ExpandLastDoseToCohort, {"n": 0}, "n"),
    (DontSkipDoses, {"when_escalating": "yes"}, "when_escalating"),
    (SelectDoseByCibp, {"a": 2.5}, "a"),
    (SelectDoseByCibp, {"a": 0}, "a"),
])
def test_impossible_parameter_names_its_field(behaviour: type[Selector], params: dict[str, Any],
                                              field: str) -> None:
    with pytest.raises(InputError) as raised:
        behaviour(parent=Scripted(), **params)
    assert raised.value.violations[0].field == field


def test_stop_at_n_zero_is_reported_at_its_place_in_the_design() -> None:
    with pytest.raises(InputError) as raised:
        build_design([{"stage": "three_plus_three", "num_doses": 5}, {"stage": "stop_at_n", "n": 0}])
    assert raised.value.violations[0].field == "design.stages[1].stop_at_n.n"


def test_a_dose_beyond_the_design_is_reported_at_its_place_in_the_design() -> None:
    with pytest.raises(InputError) as raised:
        build_design([{"stage": "three_plus_three", "num_doses": 5},
                      {"stage": "demand_n_at_dose", "n": 3, "dose": 6}])
    assert raised.value.violations[0].field == "design.stages[1].demand_n_at_dose.dose"
