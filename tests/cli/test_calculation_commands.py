"""The ``dosefinding`` command against a real server: tables for people, JSON for scripts, errors in words."""

from __future__ import annotations

import json

from tests.support import EXAMPLES


def test_evaluate_prints_the_decision_and_its_trace(run):
    code, out, _ = run("evaluate", str(EXAMPLES / "crm.json"), "1NNN 2NNN 3NTN")
    assert code == 0
    assert out.startswith("Recommended dose: 3    Continue: yes    Patients: 9")
    assert "Decision trace:" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("  ") and "->" in line] == [
        "crm", "dont_skip_doses", "stop_when_too_toxic", "stop_at_n"]


def test_evaluate_json_is_the_proto_mapping(run):
    code, out, _ = run("--json", "evaluate", str(EXAMPLES / "crm.json"), "1NNN")
    assert code == 0
    decision = json.loads(out)["decision"]
    assert decision["recommended_dose"] == 2 and decision["continue_trial"] is True


def test_bad_outcomes_are_explained_and_exit_2(run):
    code, out, err = run("evaluate", str(EXAMPLES / "crm.json"), "1NNN 9NN")
    assert code == 2 and out == ""
    assert "outcomes.outcome_string: position 6: dose 9 is outside 1..5" in err


def test_an_unreadable_design_file_exits_2(run, tmp_path):
    bad = tmp_path / "design.json"
    bad.write_text('[{"stage": "crm", "skeletn": [0.1]}]')
    code, _, err = run("evaluate", str(bad), "1NNN")
    assert code == 2 and "no parameter 'skeletn'" in err


def test_boundaries_prints_boins_table(run):
    code, out, _ = run("boundaries", "--target", "0.3", "--ncohort", "10", "--cohortsize", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "lambda_e = 0.2365, lambda_d = 0.3585"
    assert lines[4].split() == ["3", "0", "2", "3"]


def test_skeleton_prints_the_calibrated_skeleton(run):
    code, out, _ = run("skeleton", "--halfwidth", "0.05", "--target", "0.25", "--nu", "3", "--nlevel", "5")
    assert code == 0 and out.strip() == "skeleton: 0.0840, 0.1567, 0.2500, 0.3545, 0.4603"


def test_paths_prints_the_tree(run):
    code, out, _ = run("paths", str(EXAMPLES / "crm.json"), "3", "--previous", "1NNN")
    assert code == 0
    assert out.splitlines()[0] == "(now) -> dose 2"
    assert len(out.splitlines()) == 5


def test_table_prints_the_decision_boundaries(run, tmp_path):
    design = tmp_path / "boin.json"
    design.write_text('[{"stage": "boin", "num_doses": 5, "target": 0.3}]')
    code, out, _ = run("table", str(design), "--dose", "2", "--max-n", "6")
    assert code == 0
    assert out.splitlines()[3].split() == ["3", "0", "2", "3"]
