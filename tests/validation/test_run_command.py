"""``python -m validation run`` refuses what it cannot use before it starts, so that a long validation is never
lost at its end to a typing error, and leaves no report directory behind when it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from validation.__main__ import main
from validation.run import Options, _test_outcomes
from validation import unit_tests

QUICK = ["--families", "boin_get_boundary", "--cases-limit", "1", "--quiet"]


@pytest.mark.parametrize("families", ["", " , ", ","])
def test_a_family_list_without_a_name_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       families: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--out", str(tmp_path / "report"), "--families", families])
    assert stopped.value.code == 2
    assert "--families names no family" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(("junit_text", "problem"), [
    (None, "No such file or directory"),
    ("<testsuites", "is not JUnit XML: unclosed token"),
    ("<testsuites><testsuite name='x'/></testsuites>", "holds no test cases"),
])
def test_test_results_that_cannot_be_used_are_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], junit_text: str | None, problem: str) -> None:
    junit = tmp_path / "results.xml"
    if junit_text is not None:
        junit.write_text(junit_text)
    assert main(["run", "--out", str(tmp_path / "report"), "--junit", str(junit), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m validation run: ") and problem in err and str(junit) in err
    assert not (tmp_path / "report").exists()


def test_an_unknown_family_leaves_no_report_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--out", str(tmp_path / "report"), "--families", "boin_get_boundary,nope", "--quiet"]) == 2
    assert capsys.readouterr().err == "python -m validation run: no reference cases of family nope\n"
    assert not (tmp_path / "report").exists()


def test_an_output_that_is_a_file_is_refused_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report").write_text("")
    assert main(["run", "--out", str(tmp_path / "report"), *QUICK]) == 2
    assert capsys.readouterr().err == f"python -m validation run: {tmp_path / 'report'} is not a directory\n"


def test_unreadable_results_of_the_runs_own_pytest_are_a_failure_of_the_report(tmp_path: Path) -> None:
    junit = tmp_path / unit_tests.JUNIT_FILE
    junit.write_text("<testsuites><testcase")
    started = unit_tests.TestRun(subprocess.Popen([sys.executable, "-c", "pass"]), junit, ("tests/api/test_client.py",))
    failures: list[str] = []
    outcomes, source = _test_outcomes(Options(tmp_path), started, failures)
    assert outcomes == {} and source.endswith("(exit status 0)")
    assert failures == [f"the pytest run's results cannot be read: {junit} is not JUnit XML: "
                        "unclosed token: line 1, column 12"]
