"""Whatever a report directory holds, ``verify`` answers with what it found and never crashes: a verifier is run on
altered reports above all (property tests).  Bodies that are signed with a real key reach the checks that run
only after a valid signature."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from validation.attestation import (
    ENVELOPE_FILE, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, Signer, seal, signature_block, verify,
)
from dosefinding_server.audit.signing import generate_private_key
from tests.support import JSON_DOCUMENTS

SIGNER = Signer("Quality Assurance Reviewer", "Approved", generate_private_key())

names = st.text(max_size=12) | st.sampled_from(["report.json", "../report.json", "/", ".", "a\x00b"])
subjects = st.lists(st.fixed_dictionaries({"name": names, "digest": st.fixed_dictionaries(
    {"sha256": st.text(max_size=8)})}), max_size=3) | JSON_DOCUMENTS
blocks = JSON_DOCUMENTS | st.just(signature_block(SIGNER, "2026-11-22T00:00:00Z")) | st.fixed_dictionaries(
    {"key_id": st.just(signature_block(SIGNER, "")["key_id"])}, optional={"signer": JSON_DOCUMENTS})
predicates = JSON_DOCUMENTS | st.fixed_dictionaries(
    {}, optional={"signature": blocks, "verdict": JSON_DOCUMENTS, "reference_data": JSON_DOCUMENTS})
bodies = st.fixed_dictionaries({"_type": st.just(STATEMENT_TYPE), "predicateType": st.just(PREDICATE_TYPE)},
                               optional={"subject": subjects, "predicate": predicates})
envelopes = JSON_DOCUMENTS | st.fixed_dictionaries(
    {"payloadType": st.just(PAYLOAD_TYPE) | st.text(max_size=8),
     "payload": JSON_DOCUMENTS | bodies.map(lambda b: base64.b64encode(json.dumps(b).encode()).decode()),
     "signatures": JSON_DOCUMENTS})


def _verify(write: Any) -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch)
        write(report)
        pinned = verify(report, SIGNER.key.public_key())
        assert verify(report).problems, "an altered or hand-made report never verifies"
        return pinned.problems


@settings(max_examples=150, deadline=None)
@given(envelope=envelopes, report_json=JSON_DOCUMENTS)
def test_any_envelope_is_answered_with_its_problems(envelope: Any, report_json: Any) -> None:
    def write(report: Path) -> None:
        (report / ENVELOPE_FILE).write_text(json.dumps(envelope))
        (report / "report.json").write_text(json.dumps(report_json))
    assert _verify(write)


@settings(max_examples=150, deadline=None)
@given(body=bodies, report_json=JSON_DOCUMENTS)
def test_any_signed_statement_is_answered_with_its_problems(body: dict[str, Any], report_json: Any) -> None:
    def write(report: Path) -> None:
        (report / "report.json").write_text(json.dumps(report_json))
        seal(report, body, SIGNER)
    assert _verify(write)
