"""Trial and audit commands against a real server; ``audit verify`` offline on a backup of the live store."""

from __future__ import annotations

import json
import sqlite3

import pytest

from dosefinding_client.cli import main
from tests.support import EXAMPLES

from .support import backup


@pytest.fixture
def trial(run) -> str:
    code, out, _ = run("trial", "create", "--protocol", "CLI-1", "--design", str(EXAMPLES / "crm.json"))
    assert code == 0
    return out.split()[1]


def test_a_trial_from_the_command_line(run, trial):
    assert run("trial", "record", trial, "--dose", "1", "--outcomes", "NNN")[0] == 0
    code, out, _ = run("trial", "record", trial, "--dose", "2", "--outcomes", "NTN")
    assert code == 0 and "version 3" in out and "Recommended dose:" in out
    code, _, err = run("trial", "record", trial, "--dose", "5", "--outcomes", "NNN")
    assert code == 2 and "set deviation and deviation_reason" in err
    code, out, _ = run("trial", "correct", trial, "--patient", "P005", "--outcome", "N", "--reason", "re-graded")
    assert code == 0 and "version 4" in out
    code, out, _ = run("trial", "show", trial)
    assert code == 0
    assert "outcomes: 1NNN 2NNN" in out
    assert "correction of P005 (recorded in version 3)" in out
    code, out, _ = run("trial", "decision", trial)
    assert code == 0 and out.startswith("Recommended dose: ")
    code, out, _ = run("trial", "close", trial, "--reason", "enrolment complete")
    assert code == 0 and "closed" in out


def test_trial_list_says_how_to_see_the_next_page(run, trial):
    run("trial", "create", "--protocol", "CLI-2", "--design", str(EXAMPLES / "boin.json"))
    code, first, _ = run("trial", "list", "--page-size", "1")
    assert code == 0 and len(first.splitlines()) == 3
    hint = first.splitlines()[-1]
    assert hint.startswith("more trials: trial list --page-token ")
    code, second, _ = run("trial", "list", "--page-size", "1", "--page-token", hint.split()[-1])
    assert code == 0 and second.splitlines()[1].split()[0] != first.splitlines()[1].split()[0]


@pytest.mark.parametrize("options, refusal", [
    (["--outcomes", "NNN", "--patients", "A1,A2"], "--patients: 2 patient ids for the 3 outcomes of --outcomes"),
    (["--outcomes", "N N"], "--outcomes 'N N': position 2: ' ' is not one of B, E, N, T"),
    (["--outcomes", "NXN"], "--outcomes 'NXN': position 2: 'X' is not one of B, E, N, T"),
], ids=["ids-for-outcomes", "blank", "unknown-letter"])
def test_a_cohort_the_options_cannot_describe_is_refused_by_option(run, options, refusal):
    assert run("trial", "record", "trial-never-read", "--dose", "1", *options) == (2, "", f"dosefinding: {refusal}\n")


def test_a_retried_command_with_the_same_key_is_applied_once(run, trial):
    exact = ("trial", "record", trial, "--dose", "1", "--outcomes", "NNN", "--patients", "A1,A2,A3",
             "--idempotency-key", "k-1", "--version", "1")
    first, again = run(*exact), run(*exact)
    assert first[0] == again[0] == 0
    assert "a retry: the original answer" in again[1]
    assert "patients 3" in run("trial", "show", trial)[1]


def test_audit_verify_offline_on_a_backup_taken_while_serving(run, trial, server, tmp_path):
    run("trial", "record", trial, "--dose", "1", "--outcomes", "NNT")
    public = backup(server, tmp_path / "copy")
    assert main(["audit", "verify", "--data-dir", str(tmp_path / "copy"), "--public-key", str(public)]) == 0


def test_audit_verify_names_the_first_tampered_record(run, trial, server, tmp_path, capsys):
    run("trial", "record", trial, "--dose", "1", "--outcomes", "NNN")
    public = backup(server, tmp_path / "copy")
    capsys.readouterr()
    with sqlite3.connect(tmp_path / "copy" / "dosefinding.sqlite3") as database:
        database.execute("DROP TRIGGER audit_records_no_update")
        seq, response = database.execute(
            "SELECT seq, response FROM audit_records WHERE trial_id = ? ORDER BY seq DESC LIMIT 1", (trial,)).fetchone()
        flipped = bytes(response)[:-2] + bytes([response[-2] ^ 1]) + bytes(response)[-1:]
        database.execute("UPDATE audit_records SET response = ? WHERE seq = ?", (flipped, seq))
    code = main(["audit", "verify", "--data-dir", str(tmp_path / "copy"), "--public-key", str(public)])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED verification" in err and f"first bad record: {seq};" in err


def test_audit_verify_answers_machines_in_json_whether_it_passes_or_fails(run, trial, server, tmp_path, capsys):
    run("trial", "record", trial, "--dose", "1", "--outcomes", "NNN")
    code, out, err = run("--json", "audit", "verify")
    assert (code, err) == (0, "") and json.loads(out)["ok"] is True
    public = backup(server, tmp_path / "copy")
    offline = ["--json", "audit", "verify", "--data-dir", str(tmp_path / "copy"), "--public-key", str(public)]
    code, out, err = run(*offline)
    assert (code, err) == (0, "") and json.loads(out)["ok"] is True and int(json.loads(out)["records"]) > 1
    with sqlite3.connect(tmp_path / "copy" / "dosefinding.sqlite3") as database:
        database.execute("DROP TRIGGER audit_records_no_update")
        database.execute("UPDATE audit_records SET principal = 'someone else' WHERE seq = 2")
    code, out, err = run(*offline)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["first_bad_sequence"] == "2"
    assert err.startswith("dosefinding: audit log FAILED verification (no trusted checkpoint given): first bad "
                          "record: 2; ") and report["problem"] in err


def test_audit_replay_reproduces_every_logged_decision(run, trial):
    run("trial", "record", trial, "--dose", "1", "--outcomes", "NNN")
    run("trial", "decision", trial)
    code, out, _ = run("audit", "replay")
    assert code == 0 and ": 0 differ" in out


def test_audit_export_of_a_trial_is_json_lines(run, trial):
    run("trial", "record", trial, "--dose", "1", "--outcomes", "NTN")
    code, out, err = run("audit", "export", "--trial", trial)
    assert (code, err) == (0, "exported 2 records\n"), "standard output is the export alone, for a pipe"
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["method"].rsplit("/", 1)[1] for r in lines] == ["CreateTrial", "RecordOutcomes"]
    assert all(r["trial_id"] == trial for r in lines)


def test_audit_export_to_a_file_writes_it_whole_or_not_at_all(run, trial, tmp_path):
    out = tmp_path / "export.csv"
    assert run("audit", "export", "--trial", trial, "--format", "csv", "--out", str(out)) == (
        0, f"exported 1 records to {out}\n", "")
    assert out.read_text().splitlines()[0].startswith("seq,") and len(out.read_text().splitlines()) == 2
    missing = tmp_path / "mistyped.csv"
    assert run("audit", "export", "--trial", "trial-mistyped", "--out", str(missing)) == (
        1, "", "dosefinding: NOT_FOUND: no audit record names trial 'trial-mistyped'\n")
    assert list(tmp_path.iterdir()) == [out]
    assert run("audit", "export", "--out", str(tmp_path)) == (
        2, "", f"dosefinding: --out {tmp_path} is a directory; name the file to write\n")


def test_audit_export_of_a_window_that_holds_no_time_is_refused_in_words(run):
    assert run("audit", "export", "--since", "2026-11-23", "--until", "2026-11-22") == (
        2, "", "dosefinding: invalid argument:\n  end: 2026-11-22T00:00:00.000000Z is not after start "
               "2026-11-23T00:00:00.000000Z: the window holds no time\n")


def test_a_correction_is_audited_as_correcting_the_record_it_supersedes(run, trial):
    run("trial", "record", trial, "--dose", "1", "--outcomes", "NNT")
    run("trial", "correct", trial, "--patient", "P003", "--outcome", "N", "--reason", "re-graded")
    records = [json.loads(line) for line in run("audit", "export", "--trial", trial)[1].splitlines()]
    recorded, corrected = records[1], records[2]
    assert corrected["method"].endswith("/CorrectOutcome")
    assert corrected["corrects_seq"] == recorded["seq"] and corrected["reason"] == "re-graded"


def test_audit_verify_offline_trusts_keys_retired_by_rotation(tmp_path, capsys):
    from dosefinding_server.api.server import build_server, rotate_signing_key
    from dosefinding_server.audit.signing import generate_private_key, save_private_key
    from dosefinding_server.config import Config

    config = Config(listen="127.0.0.1:0", data_dir=str(tmp_path / "data"), insecure=True)
    running = build_server(config)
    main(["--server", f"127.0.0.1:{running.port}", "evaluate", str(EXAMPLES / "crm.json"), "1NNN"])
    running.stop(grace=1.0)
    save_private_key(generate_private_key(), tmp_path / "new.pem")
    rotate_signing_key(config, tmp_path / "new.pem")
    capsys.readouterr()
    assert main(["audit", "verify", "--data-dir", str(tmp_path / "data")]) == 0
    assert "audit log verified" in capsys.readouterr().out
