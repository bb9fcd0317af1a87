"""The signature of a validation report: a DSSE envelope over an in-toto statement.

``report.dsse.json`` is a DSSE v1 envelope (``payloadType``, base64
``payload``, ``signatures`` with ``keyid`` = the key's SHA-256 fingerprint),
signed with Ed25519 through securesystemslib's DSSE implementation.  The
payload is an in-toto Statement v1 whose

* ``subject`` lists every artifact of the report directory with its SHA-256
  (``report.json``, ``report.html``, the raw answers, the test results), so
  the signature cannot be excised, copied or moved to other records
  (21 CFR Part 11 §11.70);
* ``predicate`` names the signer, the UTC time of signing and the meaning of
  the signature (§11.50(a)), the signer's public key, the verdict, and the
  SHA-256 of the reference data the run judged against.

The same signer, time and meaning are shown in the human-readable report
(§11.50(b)); :func:`statement` is built before the report is rendered so
both say the same.  A run without a signing key writes the envelope
with no signature: its digests can be checked, but it verifies as unsigned.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from dosefinding_server.audit.signing import raw_public_key

from .digests import sha256_file
from .keys import fingerprint

ENVELOPE_FILE = "report.dsse.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:dosefinding:validation-report-signature:v1"


@dataclass(frozen=True)
class Signer:
    """Who signs and what the signature means (§11.50(a)(1) and (3))."""

    name: str
    meaning: str
    key: Ed25519PrivateKey


def signature_block(signer: Signer | None, signed_at: str) -> dict[str, Any] | None:
    """The signature's manifestation: printed name, UTC time, meaning, key fingerprint (§11.50)."""
    if signer is None:
        return None
    public = signer.key.public_key()
    return {"signer": signer.name, "signed_at": signed_at, "meaning": signer.meaning,
            "key_id": fingerprint(public), "public_key_raw_hex": raw_public_key(public).hex()}


def _sslib_key(public_key: Ed25519PublicKey) -> SSlibKey:
    return SSlibKey.from_crypto(public_key, keyid=fingerprint(public_key))


def artifacts(out_dir: Path) -> list[Path]:
    """Every file of the report directory the signature covers: all but the envelope itself."""
    return sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != ENVELOPE_FILE)


def statement(out_dir: Path, block: dict[str, Any] | None, verdict: str,
              reference_digests: dict[str, str]) -> dict[str, Any]:
    """The in-toto statement over the report directory as it is now."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": p.relative_to(out_dir).as_posix(), "digest": {"sha256": sha256_file(p)}}
                    for p in artifacts(out_dir)],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"signature": block, "verdict": verdict, "reference_data": reference_digests},
    }


def seal(out_dir: Path, body: dict[str, Any], signer: Signer | None) -> Path:
    """Write ``report.dsse.json``: the statement, signed when there is a signer."""
    payload = json.dumps(body, indent=2, sort_keys=True).encode("utf-8")
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    if signer is not None:
        envelope.sign(CryptoSigner(signer.key, _sslib_key(signer.key.public_key())))
    path = out_dir / ENVELOPE_FILE
    path.write_text(json.dumps(envelope.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class Verification:
    """What :func:`verify` found: the lines it verified, and each problem (empty: verified)."""

    verified: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_envelope(data: Any) -> bool:
    """Whether ``data`` has the shape of a DSSE envelope (checked before securesystemslib reads it, which assumes
    the shape)."""
    return (isinstance(data, dict) and isinstance(data.get("payloadType"), str)
            and isinstance(data.get("payload"), str) and isinstance(data.get("signatures"), list)
            and all(isinstance(s, dict) and isinstance(s.get("keyid"), str) and isinstance(s.get("sig"), str)
                    for s in data["signatures"]))


def _open_envelope(out_dir: Path, result: Verification) -> Envelope | None:
    try:
        data = json.loads((out_dir / ENVELOPE_FILE).read_text(encoding="utf-8"))
        if not _is_envelope(data):
            raise ValueError("payloadType, payload and signatures (keyid and sig each) are not all there as text")
        return Envelope.from_dict(copy.deepcopy(data))
    except FileNotFoundError:
        result.problems.append(f"{ENVELOPE_FILE} is missing: the report carries no signature envelope")
    except (ValueError, UnicodeDecodeError) as error:
        result.problems.append(f"{ENVELOPE_FILE} is not a readable DSSE envelope (altered?): "
                               f"{type(error).__name__}: {error}")
    return None


def _statement(envelope: Envelope, result: Verification) -> dict[str, Any] | None:
    """The payload as a validation report statement, or ``None`` (a problem recorded) if it is not one."""
    try:
        body = json.loads(envelope.payload)
    except (ValueError, UnicodeDecodeError):
        body = None
    if (envelope.payload_type != PAYLOAD_TYPE or not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE
            or body.get("predicateType") != PREDICATE_TYPE):
        result.problems.append(f"{ENVELOPE_FILE}: the payload is not a validation report statement (altered?)")
        return None
    return body


def _payload_key(body: dict[str, Any] | None) -> Ed25519PublicKey | None:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(body["predicate"]["signature"]["public_key_raw_hex"]))
    except (TypeError, KeyError, ValueError):
        return None


def _signature_block(body: dict[str, Any] | None) -> dict[str, str] | None:
    """The payload's manifestation of the signature (§11.50), if it has one with every field as text."""
    predicate = (body or {}).get("predicate")
    block = predicate.get("signature") if isinstance(predicate, dict) else None
    fields = ("signer", "signed_at", "meaning", "key_id")
    if isinstance(block, dict) and all(isinstance(block.get(name), str) for name in fields):
        return block
    return None


def _check_signature(envelope: Envelope, body: dict[str, Any] | None, pinned: Ed25519PublicKey | None,
                     result: Verification) -> None:
    """The signature over the envelope's payload (checked even when the payload no longer parses)."""
    if not envelope.signatures:
        result.problems.append("the report is NOT SIGNED (it was produced without --signing-key)")
        return
    public, how = ((pinned, "the public key given (--public-key)") if pinned is not None else
                   (_payload_key(body), "the public key named in the payload; pin it with --public-key"))
    if public is None:
        result.problems.append(f"signature: no public key to check it with: the payload in {ENVELOPE_FILE} names "
                               "none (altered?); give the signer's key with --public-key")
        return
    wanted = fingerprint(public)
    if wanted not in envelope.signatures:
        result.problems.append(f"signature: the report was signed by key {', '.join(envelope.signatures)}, "
                               f"not by key {wanted} ({how})")
        return
    try:
        envelope.verify([_sslib_key(public)], 1)
    except VerificationError:
        result.problems.append(f"signature: INVALID for key {wanted}: the payload or the signature in "
                               f"{ENVELOPE_FILE} was changed")
        return
    block = _signature_block(body)
    if block is None:
        result.problems.append(f"signature: valid for key {wanted}, but the payload has no signature block of "
                               "signer, signed_at, meaning and key_id")
        return
    if block["key_id"] != wanted:
        result.problems.append(f"signature: the payload names key {block['key_id']}, but key {wanted} signed it")
        return
    result.verified.append(f"signature: valid Ed25519 signature by key {wanted} ({how})")
    result.verified.append(f"signed by {block['signer']} at {block['signed_at']}; meaning: {block['meaning']}")


def _check_subjects(out_dir: Path, subjects: list[dict[str, Any]], result: Verification) -> None:
    listed = {s["name"]: s["digest"]["sha256"] for s in subjects}
    for name, digest in sorted(listed.items()):
        path = out_dir / name
        if not path.is_file():
            result.problems.append(f"{name}: missing")
        elif (actual := sha256_file(path)) != digest:
            result.problems.append(f"{name}: CHANGED (sha256 {actual}, signed {digest})")
        else:
            result.verified.append(f"{name}: sha256 {digest} matches")
    for path in artifacts(out_dir):
        if path.relative_to(out_dir).as_posix() not in listed:
            result.problems.append(f"{path.relative_to(out_dir).as_posix()}: not covered by the signature "
                                   "(added after signing)")


def _check_report_json(out_dir: Path, body: dict[str, Any], result: Verification) -> None:
    """The report's own record of its signature and reference data must be the signed one."""
    try:
        report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # already reported as missing or changed
    predicate = body["predicate"]
    if report.get("signature") != predicate.get("signature"):
        result.problems.append("report.json: its signature block differs from the signed payload's")
    if report.get("verdict") != predicate.get("verdict"):
        result.problems.append("report.json: its verdict differs from the signed payload's")
    if report.get("reference_digests") != predicate.get("reference_data"):
        result.problems.append("report.json: its reference data digests differ from the signed payload's")
    else:
        result.verified.append(f"reference data: {len(predicate['reference_data'])} file digests as signed")
    result.verified.append(f"verdict in the signed payload: {predicate.get('verdict')}")


def verify(out_dir: Path, pinned: Ed25519PublicKey | None = None) -> Verification:
    """Re-check the signature and every digest of a report directory."""
    result = Verification([], [])
    if not out_dir.is_dir():
        result.problems.append(f"{out_dir} is not a directory: a report is the directory its run wrote")
        return result
    envelope = _open_envelope(out_dir, result)
    if envelope is None:
        return result
    body = _statement(envelope, result)
    _check_signature(envelope, body, pinned, result)
    if body is not None:
        try:
            _check_subjects(out_dir, body.get("subject", []), result)
            _check_report_json(out_dir, body, result)
        except (KeyError, TypeError, AttributeError) as error:
            result.problems.append(f"{ENVELOPE_FILE}: the statement is malformed (altered?): "
                                   f"{type(error).__name__}: {error}")
    return result
