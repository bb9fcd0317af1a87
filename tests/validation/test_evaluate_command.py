"""``python -m validation evaluate``: answers a case file through a running server, and refuses a file that is not
one in words, before any server is started or answer file written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dosefinding_server.api.server import RunningServer
from validation.__main__ import main

REFERENCE = Path(__file__).resolve().parents[2] / "validation" / "reference"


def test_cases_are_answered_through_the_server_one_line_each(server: RunningServer, tmp_path: Path) -> None:
    cases = (REFERENCE / "boin_get_boundary.jsonl").read_text().splitlines()[:2]
    (tmp_path / "cases.jsonl").write_text("\n".join(cases) + "\n\n")
    out = tmp_path / "answers.jsonl"
    assert main(["evaluate", "--cases", str(tmp_path / "cases.jsonl"), "--out", str(out),
                 "--target", f"127.0.0.1:{server.port}", "--quiet"]) == 0
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert [a["id"] for a in answers] == [json.loads(c)["id"] for c in cases]
    assert all("actual" in a for a in answers)


@pytest.mark.parametrize(("line", "problem"), [
    ('{"family": ', "2: not JSON: Expecting value"),
    ("[1, 2]", "2: not a case: a JSON object is expected, not list"),
    ('"boin_get_boundary"', "2: not a case: a JSON object is expected, not str"),
])
def test_a_line_that_is_not_a_case_is_refused_by_number(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        line: str, problem: str) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"family": "boin_get_boundary", "id": "x"}\n' + line + "\n")
    out = tmp_path / "answers.jsonl"
    assert main(["evaluate", "--cases", str(cases), "--out", str(out), "--target", "127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.startswith(f"python -m validation evaluate: {cases}:{problem}")
    assert not out.exists()
