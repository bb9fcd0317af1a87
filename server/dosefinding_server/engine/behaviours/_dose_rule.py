"""The dose a rule looks at: a named level, the recommended dose, or any dose.

``stop_when_n_at_dose``, ``stop_when_too_toxic``, ``stop_when_tox_ci_covered``
and ``demand_n_at_dose`` take escalation's ``dose`` argument and ask the same
question of their parent's fit: does a per-dose condition hold at that dose
(for ``"any"``: at some dose)?  ``"recommended"`` means the parent's
recommended dose; when the parent recommends no dose, or a named level lies
beyond the doses a ``follow_path``-only design knows, there is no dose to look
at and the condition does not hold (escalation indexes ``NA`` there).
"""

from __future__ import annotations

from typing import Callable

from ..errors import InputError
from ..fit import DoseRef, Fit, dose_text, resolve_dose
from ..selector import require_dose_ref

DOSE_WORDS = ("recommended", "any")


def check_dose_ref(dose: object, field_name: str = "dose") -> None:
    """``dose`` must be a level (1 or more), ``"recommended"`` or ``"any"``."""
    if isinstance(dose, bool) or not isinstance(dose, (int, str)):
        raise InputError(field_name, f"{dose!r} is not a dose level or one of {', '.join(DOSE_WORDS)}")
    require_dose_ref(dose, field_name, DOSE_WORDS)


def check_dose_level(dose: object, field_name: str = "dose") -> None:
    """``dose`` must be a dose level, 1 or more (the registry checks it against the design's doses)."""
    if isinstance(dose, bool) or not isinstance(dose, int):
        raise InputError(field_name, f"{dose!r} is not a dose level")
    require_dose_ref(dose, field_name, ())


def examined_doses(fit: Fit, dose: DoseRef) -> list[int]:
    """The dose levels of ``fit`` that a rule on ``dose`` looks at (possibly none)."""
    if dose == "any":
        return list(range(1, fit.num_doses + 1))
    level = resolve_dose(fit, dose)
    return [level] if level is not None and level <= fit.num_doses else []


def first_dose_where(fit: Fit, dose: DoseRef, condition: Callable[[int], bool]) -> int | None:
    """The first examined dose at which ``condition`` holds, or ``None``."""
    return next((d for d in examined_doses(fit, dose) if condition(d)), None)


def first_dose_with(fit: Fit, dose: DoseRef, n: int) -> int | None:
    """The first examined dose at which at least ``n`` patients have been treated, or ``None``."""
    n_at_dose = fit.n_at_dose()
    return first_dose_where(fit, dose, lambda d: n_at_dose[d - 1] >= n)


def reached_text(fit: Fit, level: int, n: int) -> str:
    """A patient-count rule met at ``level``: ``9 patients at dose 2 >= 9``."""
    return f"{fit.n_at_dose()[level - 1]} patients at {dose_text(level)} >= {n}"


def nothing_examined_text(fit: Fit, dose: DoseRef) -> str:
    """Why a rule on a single ``dose`` found no dose to look at."""
    if dose == "recommended":
        return "no recommended dose to examine"
    return f"{dose_text(int(dose))} is beyond the {fit.num_doses} doses known"


def shortfall_text(fit: Fit, dose: DoseRef, n: int) -> str:
    """Why a patient-count rule on ``dose`` is not met: no examined dose has ``n`` patients."""
    if dose == "any":
        return f"no dose has {n} patients"
    examined = examined_doses(fit, dose)
    if not examined:
        return nothing_examined_text(fit, dose)
    role = "recommended " if dose == "recommended" else ""
    return f"fewer than {n} patients at {role}{dose_text(examined[0])}"
