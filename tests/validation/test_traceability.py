"""The traceability matrix: test results by node id, and each requirement's status from its evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validation.__main__ import main
from validation.attestation import verify
from validation.traceability import load_requirements, matrix
from validation.unit_tests import cited_test_files, matching, read_junit

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.api.test_decision_service" name="test_health_reports_serving" time="0.1"/>
<testcase classname="tests.api.test_decision_service" name="test_bad_input_names_the_field_and_the_problem[a]"/>
<testcase classname="tests.api.test_decision_service" name="test_bad_input_names_the_field_and_the_problem[b]">
  <failure message="boom">trace</failure></testcase>
<testcase classname="tests.trials.support.TestAuthority" name="test_x"><skipped message="no"/></testcase>
</testsuite></testsuites>
"""


def _outcomes(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    return read_junit(path)


def test_junit_testcases_become_node_ids_with_outcomes(tmp_path: Path) -> None:
    assert _outcomes(tmp_path) == {
        "tests/api/test_decision_service.py::test_health_reports_serving": "passed",
        "tests/api/test_decision_service.py::test_bad_input_names_the_field_and_the_problem[a]": "passed",
        "tests/api/test_decision_service.py::test_bad_input_names_the_field_and_the_problem[b]": "failed",
        "tests/trials/support.py::TestAuthority::test_x": "skipped",
    }


def test_an_entry_matches_its_file_or_its_test_with_every_parameter(tmp_path: Path) -> None:
    outcomes = _outcomes(tmp_path)
    assert sorted(matching("tests/api/test_decision_service.py", outcomes)) == ["failed", "passed", "passed"]
    assert sorted(matching("tests/api/test_decision_service.py::test_bad_input_names_the_field_and_the_problem",
                           outcomes)) == ["failed", "passed"]
    assert matching("tests/api/test_decision_service.py::test_health", outcomes) == []


def test_requirement_status_follows_its_evidence(tmp_path: Path) -> None:
    requirements = [
        {"id": "A", "text": "t", "risk": "high", "families": ["escalation"],
         "tests": ["tests/api/test_decision_service.py::test_health_reports_serving"]},
        {"id": "B", "text": "t", "risk": "high",
         "tests": ["tests/api/test_decision_service.py::test_bad_input_names_the_field_and_the_problem"]},
        {"id": "C", "text": "t", "risk": "low"},
        {"id": "D", "text": "t", "risk": "low", "tests": ["tests/no_such_test_file.py"], "families": ["nope"]},
        {"id": "E", "text": "t", "risk": "medium", "checks": ["pq:audit"], "families": ["dfcrm_crm"]},
        {"id": "F", "text": "t", "risk": "low", "tests": ["tests/audit/test_tamper.py"]},
        {"id": "G", "text": "t", "risk": "low", "tests": ["tests/api/test_decision_service.py::test_nothing"]},
    ]
    families = {"escalation": {"status": "pass", "detail": ""}}
    rows = {r["id"]: r for r in matrix(requirements, {"pq:audit": ("pass", "ok")}, families,
                                       {"escalation", "dfcrm_crm"}, _outcomes(tmp_path))}
    assert {k: r["status"] for k, r in rows.items()} == {
        "A": "pass", "B": "fail", "C": "gap", "D": "gap", "E": "not verified", "F": "not verified", "G": "gap"}
    assert [e["status"] for e in rows["E"]["evidence"]] == ["not run", "pass"]
    without_results = matrix(requirements[:1], {}, families, {"escalation"}, None)
    assert without_results[0]["status"] == "not verified"


def test_the_requirements_file_is_well_formed_and_cites_existing_tests() -> None:
    requirements = load_requirements()
    assert len({r["id"] for r in requirements}) == len(requirements) >= 15
    cited = [entry for r in requirements for entry in r.get("tests", [])]
    root = Path(__file__).resolve().parents[2]
    assert [e for e in cited if not (root / e.split("::")[0]).exists()] == []


def test_the_run_never_runs_the_tests_that_run_validations() -> None:
    files = cited_test_files(["tests/validation/test_signature.py", "tests/audit/test_tamper.py::test_x",
                        "tests/audit/test_tamper.py"])
    assert files == ["tests/audit/test_tamper.py"]


def test_a_junit_file_becomes_signed_evidence_of_the_report(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    out = tmp_path / "report"
    main(["run", "--out", str(out), "--families", "tree_stopping", "--cases-limit", "1", "--junit", str(junit)])
    progress = capsys.readouterr().err
    assert "OQ: 1/1 cases, 0 failed" in progress and "verdict FAIL" in progress
    report = json.loads((out / "report.json").read_text())
    assert (out / "tests.junit.xml").read_text() == JUNIT
    assert report["traceability"]["tests"]["source"].startswith(f"read from {junit}")
    rows = {r["id"]: r for r in report["traceability"]["matrix"]}
    health = next(e for e in rows["AVAILABILITY"]["evidence"] if e["name"].endswith("test_health_reports_serving"))
    assert health["status"] == "pass"
    assert rows["INPUT-REFUSED"]["status"] == "fail", "a failed test fails its requirement"
    assert report["verdict"] == "FAIL"
    assert "tests.junit.xml: sha256" in "\n".join(verify(out).verified)
