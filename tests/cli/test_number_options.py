"""A whole-number option the proto field cannot hold is refused by argparse, naming the option; one it can hold
goes to the service, which says whether it makes sense."""

from __future__ import annotations

import pytest

from dosefinding_client.cli import main
from tests.support import EXAMPLES

CRM = str(EXAMPLES / "crm.json")
TRUTH = ["--truth", "0.1,0.2,0.3,0.4,0.5"]
BIG = str(2**31)


@pytest.mark.parametrize("argv, refusal", [
    (["simulate", CRM, *TRUTH, "--seed", "-1"], "argument --seed: -1 is outside 0..18446744073709551615"),
    (["simulate", CRM, *TRUTH, "--seed", str(2**64)], f"argument --seed: {2**64} is outside 0..18446744073709551615"),
    (["simulate", CRM, *TRUTH, "--trials", BIG], f"argument --trials: {BIG} is outside -2147483648..2147483647"),
    (["simulate", CRM, *TRUTH, "--workers", BIG], f"argument --workers: {BIG} is outside"),
    (["table", CRM, "--dose", BIG], f"argument --dose: {BIG} is outside"),
    (["paths", CRM, "3", BIG], f"argument cohort_sizes: {BIG} is outside"),
    (["trial", "record", "t", "--dose", "1", "--outcomes", "N", "--version", str(2**63)],
     f"argument --version: {2**63} is outside -9223372036854775808..9223372036854775807"),
    (["table", CRM, "--dose", "two"], "argument --dose: 'two' is not a whole number"),
])
def test_a_number_the_field_cannot_hold_is_refused_by_option(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                             refusal: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--server", "127.0.0.1:1", *argv])
    assert stopped.value.code == 2
    assert refusal in capsys.readouterr().err


def test_a_number_the_field_can_hold_is_judged_by_the_service(run) -> None:
    code, out, err = run("table", CRM, "--dose", str(2**31 - 1))
    assert (code, out) == (2, "") and err == "dosefinding: invalid argument:\n  dose: dose 2147483647 is outside 1..5\n"
