"""Files given to ``dosefinding`` that do not hold what they should: named in words, exit 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.support import EXAMPLES, JSON_DOCUMENTS

from .support import backup

BAD_DESIGNS = {
    "not JSON": ('{"stages": [', "not JSON: Expecting value"),
    "neither list nor object": ('"a design"', 'expected a list of stages or an object with "stages"'),
    "a stage that is not an object": ("[5]", 'stages[0]: expected an object with a "stage" kind, not 5'),
    "an unknown stage kind": ('[{"stage": "crmx"}]', "stages[0]: unknown stage kind 'crmx'"),
    "a word for a number": ('[{"stage": "crm", "target": "a quarter"}]', "stages[0].target: 'a quarter' does not fit"),
    "a word for a list": ('[{"stage": "crm", "skeleton": "0.1 0.2"}]', "stages[0].skeleton: '0.1 0.2' does not fit"),
    "an unknown field of the proto mapping": ('{"stages": [{"crmx": {}}]}', 'has no field named "crmx"'),
}


def expect_refusal(run, argv: list[str], file: Path, what: str, problem: str) -> None:
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert err.startswith(f"dosefinding: {what} {file}: ") and problem in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, problem", BAD_DESIGNS.values(), ids=BAD_DESIGNS.keys())
def test_a_design_file_that_is_not_a_design_is_named_with_its_problem(run, tmp_path, text, problem):
    design = tmp_path / "design.json"
    design.write_text(text)
    expect_refusal(run, ["evaluate", str(design), "1NNN"], design, "design file", problem)


def test_a_design_file_that_cannot_be_read_is_named(run, tmp_path):
    missing = tmp_path / "missing.json"
    expect_refusal(run, ["evaluate", str(missing), "1NNN"], missing, "design file", "No such file or directory")
    expect_refusal(run, ["evaluate", str(tmp_path), "1NNN"], tmp_path, "design file", "Is a directory")
    binary = tmp_path / "design.bin"
    binary.write_bytes(b"\xff\xfe\x00design")
    expect_refusal(run, ["evaluate", str(binary), "1NNN"], binary, "design file", "not UTF-8 text")


CREATE = ["trial", "create", "--protocol", "P", "--design", str(EXAMPLES / "crm.json"), "--plan"]
SIMULATE = ["simulate", str(EXAMPLES / "crm.json"), "--truth", "0.1,0.2,0.3,0.4,0.5", "--backfill-plan"]
VERIFY = ["audit", "verify", "--trusted-checkpoint"]


@pytest.mark.parametrize("command, what, text, problem", [
    (CREATE, "plan file", "[1, 2]", "expected an object (fields: backfill, expansion), not [1, 2]"),
    (CREATE, "plan file", '{"backfil": {}}', "unknown field 'backfil'; expected backfill, expansion"),
    (CREATE, "plan file", '{"backfill": {"cap_per_dose": "three"}}', "cap_per_dose"),
    (SIMULATE, "plan file", "[1, 2]", "expected an object (fields: backfill, expansion, backfill_per_cohort"),
    (SIMULATE, "plan file", '{"expansion_sise": 5}', "unknown field 'expansion_sise'"),
    (VERIFY, "checkpoint file", "not json", "not JSON"),
    (VERIFY, "checkpoint file", '{"tree_size": "many"}', "tree_size"),
], ids=["plan-list", "plan-unknown", "plan-word", "simulation-plan-list", "simulation-plan-unknown",
        "checkpoint-not-json", "checkpoint-word"])
def test_a_file_that_is_not_what_its_option_asks_for_is_named_with_its_problem(run, tmp_path, command, what, text,
                                                                               problem):
    given = tmp_path / "given.json"
    given.write_text(text)
    expect_refusal(run, [*command, str(given)], given, what, problem)




@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=JSON_DOCUMENTS)
def test_no_json_document_as_a_design_file_crashes_the_command(run, tmp_path, document):
    design = tmp_path / "design.json"
    design.write_text(json.dumps(document))
    code, _, err = run("evaluate", str(design), "1NNN")
    assert code == 2 and err.startswith("dosefinding: ") and "Traceback" not in err


def test_offline_verification_names_a_key_or_checkpoint_file_it_cannot_use(run, server, tmp_path):
    public = backup(server, tmp_path / "copy")
    offline = ["audit", "verify", "--data-dir", str(tmp_path / "copy")]
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nno\n-----END PUBLIC KEY-----\n")
    expect_refusal(run, [*offline, "--public-key", str(not_a_key)], not_a_key, "public key file", "PEM")
    missing = tmp_path / "missing.pem"
    expect_refusal(run, [*offline, "--public-key", str(missing)], missing, "public key file",
                   "No such file or directory")
    partial = tmp_path / "checkpoint.json"
    partial.write_text('{"tree_size": 1}')
    expect_refusal(run, [*offline, "--public-key", str(public), "--trusted-checkpoint", str(partial)], partial,
                   "checkpoint file", "root_hash: missing")


def test_offline_verification_of_a_copy_without_its_key_asks_for_the_public_key(run, server, tmp_path):
    backup(server, tmp_path / "copy")
    code, out, err = run("audit", "verify", "--data-dir", str(tmp_path / "copy"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == (f"dosefinding: {tmp_path / 'copy'} holds no audit-signing-key.pem: "
                   "give the log's public key with --public-key\n")
