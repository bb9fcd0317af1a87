"""The signed report: a fresh one verifies; any change to it, or the wrong key, is caught and named."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from dosefinding_server.audit.signing import load_public_key, raw_public_key
from validation.__main__ import main
from validation.attestation import ENVELOPE_FILE, seal, statement, verify
from validation.digests import sha256_bytes
from validation.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, keygen

from .conftest import MEANING, SIGNER, Report

ARTIFACTS = ("report.json", "report.html", "oq-answers.jsonl")


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_envelope(directory: Path, field: str, change: int) -> None:
    """Change one byte of the envelope's base64 ``field`` (payload, or the first signature's sig)."""
    envelope = json.loads((directory / ENVELOPE_FILE).read_text())
    holder = envelope if field == "payload" else envelope["signatures"][0]
    data = bytearray(base64.b64decode(holder[field]))
    data[change] ^= 0x01
    holder[field] = base64.b64encode(bytes(data)).decode()
    (directory / ENVELOPE_FILE).write_text(json.dumps(envelope))


def test_a_fresh_report_verifies_with_the_signers_key(signed_report: Report,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(signed_report.directory), "--public-key", str(signed_report.public_key)]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out and "NOT VERIFIED" not in out
    assert f"valid Ed25519 signature by key {signed_report.fingerprint}" in out
    assert f"signed by {SIGNER}" in out and MEANING in out
    for name in ARTIFACTS:
        assert f"{name}: sha256" in out


def test_the_payload_names_signer_time_meaning_and_every_digest(signed_report: Report) -> None:
    envelope = json.loads((signed_report.directory / ENVELOPE_FILE).read_text())
    body = json.loads(base64.b64decode(envelope["payload"]))
    signature = body["predicate"]["signature"]
    assert (signature["signer"], signature["meaning"]) == (SIGNER, MEANING)
    assert signature["signed_at"].endswith("Z")
    assert envelope["signatures"][0]["keyid"] == signed_report.fingerprint == signature["key_id"]
    subjects = {s["name"]: s["digest"]["sha256"] for s in body["subject"]}
    assert set(subjects) == set(ARTIFACTS)
    for name, digest in subjects.items():
        assert sha256_bytes((signed_report.directory / name).read_bytes()) == digest
    assert {"PROVENANCE.json", "FORMAT.md", "escalation.jsonl"} <= set(body["predicate"]["reference_data"])


def test_the_readable_report_shows_the_signature(signed_report: Report) -> None:
    report = json.loads((signed_report.directory / "report.json").read_text())
    html = (signed_report.directory / "report.html").read_text()
    assert report["signature"]["signer"] == SIGNER
    assert SIGNER in html and MEANING in html and report["signature"]["signed_at"] in html


@pytest.mark.parametrize("name", ARTIFACTS)
@pytest.mark.parametrize("where", ["start", "end"])
def test_one_changed_byte_of_an_artifact_is_named(signed_report: Report, report_copy: Path, name: str,
                                                  where: str) -> None:
    _flip_byte(report_copy / name, 10 if where == "start" else -2)
    result = verify(report_copy, load_public_key(signed_report.public_key))
    assert not result.ok
    assert any(p.startswith(f"{name}: CHANGED") for p in result.problems), result.problems


def test_one_changed_byte_of_the_payload_fails_the_signature(signed_report: Report, report_copy: Path) -> None:
    _edit_envelope(report_copy, "payload", 40)
    result = verify(report_copy, load_public_key(signed_report.public_key))
    assert not result.ok
    assert any("signature" in p and ENVELOPE_FILE in p for p in result.problems), result.problems


def test_one_changed_byte_of_the_signature_fails(signed_report: Report, report_copy: Path) -> None:
    _edit_envelope(report_copy, "sig", 5)
    result = verify(report_copy, load_public_key(signed_report.public_key))
    assert any("signature: INVALID" in p for p in result.problems), result.problems


def test_a_mangled_envelope_is_named(signed_report: Report, report_copy: Path) -> None:
    _flip_byte(report_copy / ENVELOPE_FILE, 0)
    result = verify(report_copy, load_public_key(signed_report.public_key))
    assert any(p.startswith(ENVELOPE_FILE) for p in result.problems), result.problems


@pytest.mark.parametrize("name", ["missing", "file"])
def test_a_report_that_is_not_a_directory_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   name: str) -> None:
    (tmp_path / "file").write_text("")
    assert main(["verify", str(tmp_path / name)]) == 1
    assert capsys.readouterr().out == (f"FAILED  {tmp_path / name} is not a directory: a report is the directory its "
                                       f"run wrote\n{tmp_path / name}: NOT VERIFIED (1 problem)\n")


def test_a_wrong_public_key_fails(report_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    wrong = keygen(other)
    assert main(["verify", str(report_copy), "--public-key", str(other / PUBLIC_KEY_FILE)]) == 1
    out = capsys.readouterr().out
    assert f"not by key {wrong}" in out and "NOT VERIFIED" in out


def test_without_a_pinned_key_the_payloads_key_is_used_and_named(signed_report: Report,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(signed_report.directory)]) == 0
    assert "pin it with --public-key" in capsys.readouterr().out


def test_a_removed_or_added_file_is_named(signed_report: Report, report_copy: Path) -> None:
    (report_copy / "oq-answers.jsonl").unlink()
    (report_copy / "notes.txt").write_text("added later")
    problems = verify(report_copy, load_public_key(signed_report.public_key)).problems
    assert "oq-answers.jsonl: missing" in problems
    assert any(p.startswith("notes.txt: not covered by the signature") for p in problems)


def test_an_unsigned_report_does_not_verify(signed_report: Report, report_copy: Path) -> None:
    report = json.loads((report_copy / "report.json").read_text())
    report["signature"] = None
    (report_copy / "report.json").write_text(json.dumps(report))
    (report_copy / ENVELOPE_FILE).unlink()
    seal(report_copy, statement(report_copy, None, report["verdict"], report["reference_digests"]), None)
    result = verify(report_copy)
    assert any("NOT SIGNED" in p for p in result.problems)
    assert not any("CHANGED" in p for p in result.problems)


def test_keygen_writes_an_owner_only_key_and_prints_the_fingerprint(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE((tmp_path / "keys" / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    public = load_public_key(tmp_path / "keys" / PUBLIC_KEY_FILE)
    assert sha256_bytes(raw_public_key(public)) in printed
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 2, "an existing key is never overwritten"


def test_keygen_leaves_an_existing_public_key_and_writes_no_private_key(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / PUBLIC_KEY_FILE).write_text("the key QA pinned")
    assert main(["keygen", "--out", str(keys)]) == 2
    assert f"{keys / PUBLIC_KEY_FILE} already exists; refusing to overwrite a key file" in capsys.readouterr().err
    assert (keys / PUBLIC_KEY_FILE).read_text() == "the key QA pinned"
    assert not (keys / PRIVATE_KEY_FILE).exists()


def test_keygen_into_a_file_is_refused_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keys").write_text("")
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 2
    assert capsys.readouterr().err == f"python -m validation keygen: {tmp_path / 'keys'} is not a directory\n"


def test_signing_needs_signer_and_meaning(tmp_path: Path) -> None:
    keygen(tmp_path / "keys")
    with pytest.raises(SystemExit):
        main(["run", "--out", str(tmp_path / "out"), "--signing-key", str(tmp_path / "keys" / PRIVATE_KEY_FILE)])


def test_a_report_is_never_written_into_a_used_directory(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("left over")
    assert main(["run", "--out", str(tmp_path), "--quiet"]) == 2
