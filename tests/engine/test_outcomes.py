"""The outcome-string parser: valid strings round-trip, invalid ones become field violations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.outcomes import Outcomes, Patient, check_patients, parse_outcome_string

NUM_DOSES = 6


def cohort_strings(letters: str) -> st.SearchStrategy[str]:
    cohort = st.tuples(st.integers(1, NUM_DOSES), st.text(alphabet=letters, min_size=1, max_size=6))
    return st.lists(cohort, max_size=12).map(lambda cs: " ".join(f"{d}{o}" for d, o in cs))


@given(cohort_strings("NT"))
def test_phase1_strings_round_trip(text: str) -> None:
    assert parse_outcome_string(text, NUM_DOSES).to_string() == text


@given(cohort_strings("NTEB"))
def test_phase12_strings_round_trip(text: str) -> None:
    assert parse_outcome_string(text, NUM_DOSES, efficacy=True).to_string() == text


@given(cohort_strings("NT"))
def test_counts_per_dose_sum_to_the_input(text: str) -> None:
    outcomes = parse_outcome_string(text, NUM_DOSES)
    letters = "".join(c for c in text if c.isalpha())
    assert sum(outcomes.n_at_dose(NUM_DOSES)) == len(letters) == outcomes.num_patients
    assert sum(outcomes.tox_at_dose(NUM_DOSES)) == letters.count("T")


PATIENTS = st.tuples(st.integers(1, NUM_DOSES), st.booleans(), st.sampled_from([None, False, True]))


@given(st.lists(st.lists(PATIENTS, min_size=1, max_size=4), max_size=8))
def test_extended_outcomes_tally_as_if_counted_afresh(cohorts: list[list[tuple[int, bool, bool | None]]]) -> None:
    outcomes = Outcomes()
    for cohort in cohorts:
        outcomes = outcomes.extended([Patient(dose, tox, eff) for dose, tox, eff in cohort])
        afresh = Outcomes(outcomes.patients)
        assert outcomes == afresh and outcomes.max_dose == afresh.max_dose
        for tally in (Outcomes.n_at_dose, Outcomes.tox_at_dose, Outcomes.eff_at_dose):
            assert tally(outcomes, NUM_DOSES) == tally(afresh, NUM_DOSES)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_field_violation(text: str) -> None:
    try:
        parse_outcome_string(text, NUM_DOSES)
    except InputError as error:
        assert error.violations[0].field == "outcomes"
        assert error.violations[0].description.startswith("position ")


@given(cohort_strings("NT"), st.sampled_from("xX!-0"), st.data())
def test_a_stray_character_is_reported_at_its_position(text: str, stray: str, data: st.DataObject) -> None:
    where = data.draw(st.integers(0, len(text)))
    broken = text[:where] + stray + text[where:]
    try:
        parse_outcome_string(broken, NUM_DOSES)
    except InputError as error:
        assert error.violations[0].description.startswith("position ")
    else:
        assert stray == "0"  # a digit may still form a valid dose ("10" beyond 6 does not)


@pytest.mark.parametrize("text, message", [
    ("1NNT 9NN", "position 6: dose 9 is outside 1..6"),
    ("1NNT 2NXN", "position 8: outcome 'X' is not N or T"),
    ("1NNT 2", "position 7: cohort at dose 2 has no patients"),
    ("1NNT,2NN", "position 5: expected a space between cohorts, found ','"),
    ("NNT", "position 1: expected a dose level (digits), found 'N'"),
    ("0NN", "position 1: dose 0 is outside 1..6"),
    ("1NEN", "position 3: outcome 'E' is not N or T"),
])
def test_malformed_strings_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_outcome_string(text, NUM_DOSES)
    assert caught.value.violations[0].description == message


def test_empty_string_means_no_patients() -> None:
    assert parse_outcome_string("   ", NUM_DOSES).num_patients == 0


def test_efficacy_letters_are_read_for_phase12_designs() -> None:
    outcomes = parse_outcome_string("1NETB", 3, efficacy=True)
    assert [(p.toxicity, p.efficacy) for p in outcomes.patients] == [
        (False, False), (False, True), (True, False), (True, True)]


def test_records_outside_the_dose_range_name_the_record() -> None:
    with pytest.raises(InputError) as caught:
        check_patients([Patient(1, False), Patient(7, True)], 5)
    assert caught.value.violations[0].field == "patients[1].dose"
