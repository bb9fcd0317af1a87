"""Patient outcomes: escalation's outcome strings and structured patient records.

An outcome string lists cohorts separated by white space, each a dose level
followed by one letter per patient (escalation's grammar, Brock 2019):
``N`` no toxicity, ``T`` toxicity; for phase I/II designs also ``E`` efficacy
only and ``B`` both.  ``"1NNT 2NNN"`` is two cohorts of three.  Doses are
1-based.  Parsing never guesses: any character that does not fit the grammar
raises :class:`InputError` naming its 1-based position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .errors import InputError

_LETTERS = {
    "N": (False, False),
    "T": (True, False),
    "E": (False, True),
    "B": (True, True),
}
_COHORT = re.compile(r"(\d+)([A-Za-z]*)")
ESCALATION, BACKFILL, EXPANSION = "escalation", "backfill", "expansion"
PHASES = (ESCALATION, BACKFILL, EXPANSION)


@dataclass(frozen=True, slots=True)
class Patient:
    """One treated patient.

    ``efficacy`` is ``None`` when efficacy was not assessed (phase I data);
    ``weight`` is the TITE-CRM follow-up weight in [0, 1] (``None`` = complete);
    ``phase`` is the part of the trial the patient was treated in: escalation,
    or backfill / expansion (their outcomes feed the model, but only
    escalation patients steer escalation, e.g. "the last dose given").
    """

    dose: int
    toxicity: bool
    efficacy: bool | None = None
    cohort: int = 1
    weight: float | None = None
    phase: str = "escalation"


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The ordered patients of a trial so far; the unit every design is fitted to.

    Per-dose tallies are counted once, when the outcomes are made: every stage of a design asks for
    them, and a trial's service decides on a longer history at each cohort.
    """

    patients: tuple[Patient, ...] = ()
    _tallies: tuple[list[int], list[int], list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tallies", _tallied(([], [], []), self.patients))

    @classmethod
    def _with_tallies(cls, patients: tuple[Patient, ...],
                      tallies: tuple[list[int], list[int], list[int]]) -> "Outcomes":
        """Outcomes whose tallies are known already (:meth:`extended` adds to its own, not recounting)."""
        outcomes = object.__new__(cls)
        object.__setattr__(outcomes, "patients", patients)
        object.__setattr__(outcomes, "_tallies", tallies)
        return outcomes

    @property
    def num_patients(self) -> int:
        return len(self.patients)

    @property
    def max_dose(self) -> int:
        return len(self._tallies[0])

    @property
    def last_dose(self) -> int | None:
        """The dose of the last escalation patient (backfill and expansion patients do not steer)."""
        return next((p.dose for p in reversed(self.patients) if p.phase == ESCALATION), None)

    def _at_dose(self, which: int, num_doses: int) -> list[int]:
        counts = self._tallies[which]
        if num_doses < len(counts):
            raise IndexError(f"dose {len(counts)} is given but the design has {num_doses} doses")
        return counts + [0] * (num_doses - len(counts))

    def n_at_dose(self, num_doses: int) -> list[int]:
        return self._at_dose(0, num_doses)

    def tox_at_dose(self, num_doses: int) -> list[int]:
        return self._at_dose(1, num_doses)

    def eff_at_dose(self, num_doses: int) -> list[int]:
        return self._at_dose(2, num_doses)

    @property
    def last_cohort(self) -> int:
        """The number of the last patient's cohort (0 before the first patient)."""
        return self.patients[-1].cohort if self.patients else 0

    def extended(self, more: Iterable[Patient]) -> "Outcomes":
        """These outcomes followed by ``more`` (cohort numbers continue from ours)."""
        last_cohort = self.last_cohort
        return self.appended(tuple(
            Patient(p.dose, p.toxicity, p.efficacy, last_cohort + p.cohort, p.weight, p.phase) for p in more
        ))

    def appended(self, more: tuple[Patient, ...]) -> "Outcomes":
        """These outcomes followed by ``more`` as they are (numbered already, e.g. by a simulator that
        reuses one tuple of patients for every state its cohort extends)."""
        return Outcomes._with_tallies(self.patients + more, _tallied(self._tallies, more))

    def to_string(self) -> str:
        """The outcome string of these patients (inverse of :func:`parse_outcome_string`)."""
        cohorts: list[str] = []
        current: tuple[int, int] | None = None
        for p in self.patients:
            key = (p.cohort, p.dose)
            letter = _letter(p)
            if key != current:
                cohorts.append(f"{p.dose}{letter}")
                current = key
            else:
                cohorts[-1] += letter
        return " ".join(cohorts)


def _tallied(tallies: tuple[list[int], list[int], list[int]],
             patients: Iterable[Patient]) -> tuple[list[int], list[int], list[int]]:
    """New per-dose tallies (treated, toxicities, efficacies): ``tallies`` plus ``patients``."""
    treated, toxicities, efficacies = (list(counts) for counts in tallies)
    for p in patients:
        if p.dose > len(treated):
            grow = [0] * (p.dose - len(treated))
            treated += grow
            toxicities += grow
            efficacies += grow
        treated[p.dose - 1] += 1
        toxicities[p.dose - 1] += p.toxicity
        efficacies[p.dose - 1] += bool(p.efficacy)
    return treated, toxicities, efficacies


def _letter(p: Patient) -> str:
    if p.efficacy is None:
        return "T" if p.toxicity else "N"
    return {(False, False): "N", (True, False): "T", (False, True): "E", (True, True): "B"}[
        (p.toxicity, p.efficacy)
    ]


def parse_outcome_string(
    text: str, num_doses: int | None = None, *, field: str = "outcomes", efficacy: bool = False
) -> Outcomes:
    """Parse an outcome string into :class:`Outcomes`.

    ``num_doses`` (when known) bounds the dose levels; ``efficacy`` says whether
    the design models efficacy, in which case every patient's efficacy is known
    (``N``/``T`` mean no efficacy) and ``E``/``B`` are allowed.
    """
    patients: list[Patient] = []
    pos = 0
    cohort = 0
    length = len(text)
    while pos < length:
        if text[pos].isspace():
            pos += 1
            continue
        match = _COHORT.match(text, pos)
        if match is None:
            raise InputError(
                field, f"position {pos + 1}: expected a dose level (digits), found {text[pos]!r}"
            )
        dose_text, letters = match.group(1), match.group(2)
        dose = int(dose_text)
        if dose < 1 or (num_doses is not None and dose > num_doses):
            upper = f"..{num_doses}" if num_doses is not None else " or more"
            raise InputError(field, f"position {pos + 1}: dose {dose} is outside 1{upper}")
        if not letters:
            where = match.end() + 1
            raise InputError(field, f"position {where}: cohort at dose {dose} has no patients")
        cohort += 1
        for offset, letter in enumerate(letters):
            where = match.start(2) + offset + 1
            outcome = _LETTERS.get(letter)
            if outcome is None or (not efficacy and letter in "EB"):
                allowed = "N, T, E or B" if efficacy else "N or T"
                raise InputError(field, f"position {where}: outcome {letter!r} is not {allowed}")
            tox, eff = outcome
            patients.append(Patient(dose, tox, eff if efficacy else None, cohort))
        pos = match.end()
        if pos < length and not text[pos].isspace():
            raise InputError(
                field, f"position {pos + 1}: expected a space between cohorts, found {text[pos]!r}"
            )
    return Outcomes(tuple(patients))


def check_patients(
    patients: Sequence[Patient], num_doses: int, *, field: str = "patients", efficacy: bool = False
) -> Outcomes:
    """Validate structured patient records against a design's dose range."""
    for index, p in enumerate(patients):
        check_patient(p, num_doses, f"{field}[{index}]", efficacy=efficacy)
    return Outcomes(tuple(patients))


def check_patient(patient: Patient, num_doses: int, where: str, *, efficacy: bool = False) -> None:
    """Validate one patient record (at request field ``where``) against a design's dose range."""
    if not 1 <= patient.dose <= num_doses:
        raise InputError(f"{where}.dose", f"dose {patient.dose} is outside 1..{num_doses}")
    if efficacy and patient.efficacy is None:
        raise InputError(f"{where}.efficacy", "this design models efficacy; it must be given")
    if patient.weight is not None and not 0.0 <= patient.weight <= 1.0:  # NaN too
        raise InputError(f"{where}.weight", f"weight {patient.weight} is outside [0, 1]")
