"""Documented deviations from R: where the service knowingly answers otherwise than the R reference.

A deviation is never evidence of agreement: operational qualification
lists the cases a deviation touches separately and does not count them as
passes, even when every compared field agrees (GAMP 5: deviations are
documented and justified, not absorbed into the pass rate).  Two kinds:

* **Defects of the R code** (FORMAT.md section 8): the case names the field
  under ``r_known_issue`` and either leaves it out of ``expected`` or
  corrects it there.  ``r_known_issue`` also keeps R's raw strings and
  codes "for provenance only" (:data:`PROVENANCE_ONLY`); those are no
  deviation.
* **The project's own choices**, each documented in the engine
  (:data:`PROJECT_DEVIATIONS`), with the cases of the reference data they
  touch found by a rule.  A deviation may name an *alternative*: the case
  as the service's default mode sees it, evaluated too and reported, so a
  reader sees what the default would have answered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from .families import seeded_stages

Case = dict[str, Any]

#: ``r_known_issue`` keys that keep R's raw output for provenance only (FORMAT.md section 8)
PROVENANCE_ONLY = frozenset({"mtd_raw", "p_est_raw", "p_overdose_raw", "p_est_CI"})
#: FORMAT.md 4.3: λd·n within this of a whole number counts as whole
WHOLE = 1e-12
_COHORT = re.compile(r"(\d+)([A-Z]*)")


@dataclass(frozen=True)
class Deviation:
    """One documented deviation: what it is, where it is documented, which fields of a case it touches."""

    id: str
    source: str
    description: str
    touches: Callable[[Case], list[str]]
    alternative: Callable[[Case], Case] | None = None


@dataclass(frozen=True)
class Applied:
    """A deviation as it applies to one case."""

    id: str
    fields: tuple[str, ...]


def _deescalation_boundary(target: float, p_tox: float) -> float:
    """Liu & Yuan's λd (FORMAT.md 4.3)."""
    return math.log((1 - target) / (1 - p_tox)) / math.log(p_tox * (1 - target) / (target * (1 - p_tox)))


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < WHOLE


def _patients_at_last_dose(outcomes: str) -> int:
    """Patients treated at the dose the last cohort was given (an escalation outcome string)."""
    cohorts = [(int(dose), len(letters)) for dose, letters in _COHORT.findall(outcomes)]
    if not cohorts:
        return 0
    last = cohorts[-1][0]
    return sum(size for dose, size in cohorts if dose == last)


def _boin_whole_number_rule(case: Case) -> list[str]:
    """Cases in which de-escalation hinges on λd·n being a whole number."""
    if case["family"] == "boin_get_boundary":
        lambda_d = case["expected"]["lambda_d"]
        rows = [row["n"] for row in case["expected"]["table"] if _is_whole(lambda_d * row["n"])]
        return [f"table[n={n}].deescalate_if_ge" for n in rows]
    if case["family"] == "escalation":
        for stage in case["design"]:
            if stage["stage"] == "boin":
                n = _patients_at_last_dose(case["outcomes"])
                target = stage["target"]
                if n and _is_whole(_deescalation_boundary(target, stage.get("p_tox", 1.4 * target)) * n):
                    return ["recommended_dose"]
    return []


def _cibp_seeded(case: Case) -> list[str]:
    """Cases whose select_dose_by_cibp stage is evaluated with the R call's seed."""
    if case["family"] == "escalation" and seeded_stages(case) != list(case["design"]):
        return ["recommended_dose"]
    return []


def _without_seed(case: Case) -> Case:
    """The case with its R call's leading ``set.seed(N);`` removed: the service's default quadrature mode."""
    return dict(case, r_call=case["r_call"].split(";", 1)[1].lstrip())


def _boin_extrasafe(case: Case) -> list[str]:
    if case["family"] == "escalation" and any(
            s["stage"] == "boin" and s.get("extrasafe") for s in case["design"]):
        return ["recommended_dose", "continue", "dose_admissible"]
    return []


PROJECT_DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "boin-deescalation-whole-number",
        "FORMAT.md 4.3; server/dosefinding_server/engine/numerics/boin_boundary.py",
        "When λd·n is a whole number, Liu & Yuan's rule (de-escalate when y/n ≥ λd) de-escalates at "
        "y = λd·n; BOIN::get.boundary, and so the service, requires one toxicity more (round(λd·n) + 1). "
        "The service follows R's published output.",
        _boin_whole_number_rule,
    ),
    Deviation(
        "cibp-r-seed",
        "server/dosefinding_server/engine/behaviours/select_dose_by_cibp.py",
        "escalation's select_dose_by_cibp averages 4000 random draws; the service's default is a "
        "deterministic quadrature over the range those draws cover. These cases are evaluated with "
        "r_seed = the seed the R call set, which reproduces R's draws, seed artefacts included. The "
        "default mode's answer is reported beside each case.",
        _cibp_seeded,
        _without_seed,
    ),
    Deviation(
        "boin-extrasafe",
        "FORMAT.md section 8; server/dosefinding_server/engine/selectors/boin.py",
        "escalation passes a boin stage's extrasafe and offset only to get.boundary, where they change "
        "nothing; the service applies BOIN's extra-safe rule as BOIN::get.oc does. Such cases were "
        "dropped from the reference data.",
        _boin_extrasafe,
    ),
)
BY_ID = {deviation.id: deviation for deviation in PROJECT_DEVIATIONS}


def r_defect_id(case: Case, field: str) -> str:
    return f"r-defect:{case['family']}:{field}"


def applied(case: Case) -> list[Applied]:
    """Every documented deviation that touches this case."""
    found = [Applied(r_defect_id(case, field), (field,))
             for field in (case.get("r_known_issue") or {}) if field not in PROVENANCE_ONLY]
    for deviation in PROJECT_DEVIATIONS:
        fields = deviation.touches(case)
        if fields:
            found.append(Applied(deviation.id, tuple(fields)))
    return found


def describe_r_defect(case: Case, field: str) -> dict[str, str]:
    """The catalogue entry of an R defect, in the words the reference data gives for it."""
    return {"id": r_defect_id(case, field), "source": "FORMAT.md section 8 (r_known_issue)",
            "description": f"{case['family']}, {field}: {case['r_known_issue'][field]['why']}"}
