"""``dosefinding simulate`` in-process against the session's server: the table, the progress, the JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dosefinding_client.cli.simulation import Progress

CRM = [{"stage": "crm", "skeleton": [0.05, 0.1, 0.2, 0.35, 0.5], "target": 0.25},
       {"stage": "dont_skip_doses"}, {"stage": "stop_at_n", "n": 36}]
BOIN = [{"stage": "boin", "num_doses": 5, "target": 0.25}, {"stage": "stop_at_n", "n": 24}]
PLAN = {"backfill": {"cap_per_dose": 6, "safety_theta": 0.3, "safety_confidence": 0.9}, "backfill_per_cohort": 2}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    written = {}
    for name, content in (("crm.json", CRM), ("boin.json", BOIN), ("plan.json", PLAN),
                          ("trial-plan.json", {"backfill": PLAN["backfill"]})):
        path = tmp_path / name
        path.write_text(json.dumps(content), encoding="utf-8")
        written[name] = str(path)
    return written


def test_a_table_per_design_conduct_and_scenario_after_a_progress_bar(run, files: dict[str, str]) -> None:
    code, out, err = run("simulate", files["crm.json"], "--compare", files["boin.json"],
                         "--truth", "0.05,0.1,0.25,0.5,0.7", "--truth", "0.1,0.25,0.4,0.5,0.6", "--trials", "200",
                         "--seed", "5", "--max-patients", "24", "--target", "0.25",
                         "--backfill-plan", files["plan.json"])
    assert code == 0, err
    progress = err.splitlines()
    assert progress and all(line.startswith("[") and "trials" in line for line in progress)
    assert progress[-1] == f"[{'#' * 30}] 100%  1600/1600 trials"
    blocks = out.split("\n\n")
    assert blocks[0] == "200 trials per design and scenario, seed 5; (± Monte Carlo standard error)"
    heads = [block.splitlines()[0] for block in blocks[1:-1]]
    assert heads == [f"{design}, {conduct} | truth {truth} | correct dose {correct}"
                     for truth, correct in (("0.05,0.1,0.25,0.5,0.7", 3), ("0.1,0.25,0.4,0.5,0.6", 2))
                     for conduct in ("escalation only", "with backfill") for design in ("crm.json", "boin.json")]
    only, backfilled = blocks[1].splitlines(), blocks[3].splitlines()  # crm.json, first truth
    assert only[1].split() == ["dose", "1", "2", "3", "4", "5", "none"]
    assert [row.split()[0] for row in only[2:5]] == ["P(recommend)", "patients", "toxicities"]
    assert [row.split()[0] for row in backfilled[2:7]] == [
        "P(recommend)", "patients", "escalation", "backfill", "toxicities"]
    assert backfilled[7].startswith("PCS 0.") and "patients below the MTD" in backfilled[7]
    assert backfilled[8].startswith("sample size ") and "(escalation " in backfilled[8]
    assert backfilled[9].startswith("toxicities ") and ", backfill " in backfilled[9]
    assert backfilled[10].startswith("stopped by: ")
    contrasts = blocks[-1].splitlines()
    assert contrasts[0] == "Paired differences (same simulated patients):"
    assert len(contrasts) == 2 + 4 and all("with backfill - escalation only" in row for row in contrasts[2:])


def test_json_is_the_result_and_progress_stays_on_stderr(run, files: dict[str, str]) -> None:
    code, out, err = run("--json", "simulate", files["crm.json"], "--truth", "0.05,0.1,0.25,0.5,0.7",
                         "--trials", "100", "--max-patients", "18", "--target", "0.25")
    assert code == 0, err
    result = json.loads(out)
    assert result["num_trials"] == 100 and len(result["summaries"]) == 1 and result["contrasts"] == []
    assert result["summaries"][0]["scenario_label"] == "0.05,0.1,0.25,0.5,0.7"
    assert err.rstrip().endswith("100%  100/100 trials")


def test_a_trial_plan_needs_the_arrival_settings(run, files: dict[str, str]) -> None:
    args = ("simulate", files["crm.json"], "--truth", "0.05,0.1,0.25,0.5,0.7", "--trials", "50",
            "--backfill-plan", files["trial-plan.json"])
    code, _, err = run(*args)
    assert code == 2 and "backfill_per_cohort" in err
    code, out, err = run(*args, "--backfill-per-cohort", "1")
    assert code == 0 and "with backfill" in out


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = Progress(out)
    for done in (10, 11, 50, 100):
        bar.update(done, 100)
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith(f"\r[{'#' * 30}] 100%  100/100 trials\n")
    assert "\n" not in text[:-1]
