"""escalation's ``crm`` stage (``get_dfcrm``): reference chains, semantics and input checks.

The reference part runs every published escalation case whose design is a
``crm`` core alone (FORMAT.md section 3.3).  The unit tests pin what the
reference cannot: the logistic quantile that escalation gets wrong
(FORMAT.md section 8), the hand-over from a ``follow_path`` stage, and the
field each invalid parameter is reported under.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
import pytest

from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.fit import Fit
from dosefinding_server.engine.outcomes import Outcomes, parse_outcome_string
from dosefinding_server.engine.registry import build_design, stage_kinds
from dosefinding_server.engine.selector import Role, Selector
from dosefinding_server.engine.selectors.crm import Crm, CrmFit

from .reference import disagreements, escalation_actual, escalation_cases

SKELETON = [0.05, 0.1, 0.25, 0.4, 0.6]


@pytest.mark.parametrize("case", escalation_cases("crm"), ids=lambda c: c["id"])
def test_escalation_reference(case: dict[str, Any]) -> None:
    assert disagreements(case, escalation_actual(case)) == []


def test_reference_covers_both_models_and_the_empty_trial() -> None:
    cases = escalation_cases("crm")
    assert len(cases) == 252
    assert {c["design"][0]["model"] for c in cases} == {"empiric", "logistic"}
    assert any(c["outcomes"] == "" for c in cases)


def fit(outcomes: str, **params: Any) -> CrmFit:
    design = Crm(**{"skeleton": SKELETON, "target": 0.25, **params})
    result = design.fit(parse_outcome_string(outcomes, design.num_doses))
    assert isinstance(result, CrmFit)
    return result


# The stage ---------------------------------------------------------------------------------


def test_registered_as_a_core_that_may_follow_a_path() -> None:
    assert stage_kinds()["crm"] is Crm
    assert (Crm.role, Crm.accepts_path) == (Role.CORE, True)


def test_lists_become_tuples_and_set_the_number_of_doses() -> None:
    design = Crm(skeleton=[0.1, 0.2, 0.3], target=0.2)
    assert design.skeleton == (0.1, 0.2, 0.3) and design.num_doses == 3
    assert hash(design) == hash(Crm(skeleton=(0.1, 0.2, 0.3), target=0.2))


def test_no_patients_start_at_dose_one_with_the_skeleton() -> None:
    result = fit("")
    assert (result.recommended_dose(), result.continues()) == (1, True)
    assert result.mean_prob_tox() == tuple(SKELETON)
    assert result.median_prob_tox() == result.prob_tox_exceeds(0.25) == (None,) * 5
    assert result.dose_admissible() == (True,) * 5  # escalation's default, as the reference shows
    assert (result.estimate, result.post_var) == (None, None)
    assert result.reason() == "no patients yet: start at dose 1"


def test_reason_names_the_dose_its_estimate_and_the_target() -> None:
    result = fit("1NNN 2NTN")
    assert result.recommended_dose() == 2
    assert result.reason() == "CRM (empiric): dose 2 has estimated toxicity 0.188, closest to target 0.25"
    assert fit("1TTT").reason().startswith("CRM (empiric): every dose is estimated at or above target 0.25")


def test_always_continues_and_reports_its_target() -> None:
    result = fit("1TTT 1TTT")
    assert result.continues() and result.tox_target() == 0.25


def test_posterior_is_exposed_for_other_stages() -> None:
    result = fit("1NNN 2NTN 3NNN")
    assert result.estimate == result.result.estimate and result.post_var == result.result.post_var > 0
    beta = np.array([[result.estimate], [0.0]])
    probs = result.prob_tox_at(beta)
    assert probs.shape == (2, 1, 5)
    assert probs[0, 0] == pytest.approx(result.mean_prob_tox(), rel=1e-12)
    assert probs[1, 0] == pytest.approx(SKELETON, rel=1e-12)


# Quantiles and exceedance ------------------------------------------------------------------


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_quantiles_and_exceedance_are_consistent(model: str) -> None:
    result = fit("1NNN 2NTN 3NTT", model=model)
    for p in (0.05, 0.5, 0.95):
        for dose, value in enumerate(result.prob_tox_quantile(p)):
            assert result.prob_tox_exceeds(value)[dose] == pytest.approx(1 - p, abs=1e-12)
    assert result.median_prob_tox() == result.mean_prob_tox()  # the plug-in estimate is the median


def test_logistic_quantile_uses_p_unlike_escalation() -> None:
    """FORMAT.md section 8: escalation returns ptox for every p; the model at β's (1 - p) quantile is right."""
    result = fit("1NNN 2NTN 3NTT", model="logistic", intcpt=3.0)
    sd = math.sqrt(result.post_var)
    for p in (0.05, 0.95):
        beta = NormalDist(result.estimate, sd).inv_cdf(1 - p)
        expected = [1 / (1 + math.exp(-3.0 - math.exp(beta) * (math.log(s / (1 - s)) - 3.0))) for s in SKELETON]
        assert result.prob_tox_quantile(p) == pytest.approx(expected, rel=1e-12)
    low, mean, high = result.prob_tox_quantile(0.05), result.mean_prob_tox(), result.prob_tox_quantile(0.95)
    assert all(a < b < c for a, b, c in zip(low, mean, high))


def test_exceedance_beyond_the_logistic_ceiling_is_undefined_as_in_r() -> None:
    # With intercept 1 no dose can exceed plogis(1) = 0.73; R's formula gives NaN (null).
    result = fit("1NNN 2NTN", model="logistic", intcpt=1.0)
    assert result.prob_tox_exceeds(0.8) == (None,) * 5


# follow_path hand-over ---------------------------------------------------------------------


class StandInPathFit(Fit):
    """A path that recommends ``dose`` while it ``on_path``."""

    def __init__(self, outcomes: Outcomes, dose: int | None, on_path: bool) -> None:
        super().__init__(outcomes, 5)
        self.dose, self.on_path = dose, on_path

    def recommended_dose(self) -> int | None:
        return self.dose if self.on_path else None

    def continues(self) -> bool:
        return self.on_path

    def reason(self) -> str:
        return "stand-in path"


@dataclass(frozen=True, kw_only=True)
class StandInPath(Selector):
    kind: ClassVar[str] = "stand_in_path"
    role: ClassVar[Role] = Role.PATH
    dose: int | None
    on_path: bool

    def fit(self, outcomes: Outcomes) -> Fit:
        return StandInPathFit(outcomes, self.dose, self.on_path)


def path_fit(outcomes: str, dose: int | None, on_path: bool) -> CrmFit:
    design = Crm(parent=StandInPath(dose=dose, on_path=on_path), skeleton=SKELETON, target=0.25, index=1)
    return design.fit(parse_outcome_string(outcomes, 5))


def test_path_dose_wins_while_the_path_continues() -> None:
    result = path_fit("1NNN", dose=3, on_path=True)
    assert result.recommended_dose() == 3 and result.model_dose() != 3
    assert result.reason() == f"following the path: dose 3 (the CRM alone would choose dose {result.model_dose()})"
    assert [step.stage for step in result.trace()] == ["", "crm"]
    assert result.trace()[-1].received_dose == 3


def test_model_decides_once_the_path_stops_or_gives_no_dose() -> None:
    model_dose = fit("1NNN").recommended_dose()
    assert path_fit("1NNN", dose=3, on_path=False).recommended_dose() == model_dose
    assert path_fit("1NNN", dose=None, on_path=True).recommended_dose() == model_dose


def test_follow_path_then_crm_through_the_registry() -> None:
    design = build_design([{"stage": "follow_path", "path": "1NN 2NN 3NN"},
                           {"stage": "crm", "skeleton": SKELETON, "target": 0.25}])
    assert design.fit(parse_outcome_string("1NN 2N", 5)).recommended_dose() == 2
    off_path = design.fit(parse_outcome_string("1NN 2T", 5))
    assert off_path.recommended_dose() == off_path.model_dose()


# Input checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "field"), [
    (dict(skeleton=[0.1, 0.3, 0.2]), "skeleton[2]"),
    (dict(skeleton=[0.0, 0.2, 0.3]), "skeleton[0]"),
    (dict(skeleton=[0.1, 0.2, 1.1]), "skeleton[2]"),
    (dict(skeleton=[]), "skeleton"),
    (dict(skeleton=0.2), "skeleton"),
    (dict(skeleton=[0.1, "x"]), "skeleton[1]"),
    (dict(target=0.0), "target"),
    (dict(target=1.0), "target"),
    (dict(target="0.3"), "target"),
    (dict(model="probit"), "model"),
    (dict(model="logistic", intcpt=-1.0), "intcpt"),
    (dict(intcpt=math.nan), "intcpt"),
    (dict(scale=0.0), "scale"),
    (dict(scale=-2.0), "scale"),
    (dict(scale=math.inf), "scale"),
])
def test_invalid_parameters_name_their_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as raised:
        Crm(**{"skeleton": [0.1, 0.2, 0.3], "target": 0.2, **changes})
    assert raised.value.violations[0].field == field


def test_invalid_parameters_are_reported_under_the_stage() -> None:
    with pytest.raises(InputError) as raised:
        build_design([{"stage": "crm", "skeleton": [0.1, 0.3, 0.2], "target": 0.2}])
    assert raised.value.violations[0].field == "design.stages[0].crm.skeleton[2]"


def test_skeleton_and_target_are_required() -> None:
    with pytest.raises(InputError) as raised:
        build_design([{"stage": "crm", "skeleton": [0.1, 0.2]}])
    assert raised.value.violations[0].field == "design.stages[0].crm.target"
