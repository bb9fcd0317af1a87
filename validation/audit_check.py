"""Audit trail verification after the run: is every call the validation made in an intact, signed log?

21 CFR Part 11 §11.10(e) asks for secure, computer-generated, time-stamped
audit trails that changes cannot obscure.  Performance qualification shows
the trail the validation run itself produced is intact:

* **own server** (no ``--target``): once the server has stopped (and signed
  its last checkpoint), its store is verified offline with the project's
  verifier (:func:`dosefinding_server.audit.verify.verify_log`), trusting
  the public key of the server's signing key, and each audit receipt the
  scripted trial received must be in the log with the same leaf hash;
* **a running server** (``--target``): ``AuditService.VerifyLog`` is asked
  to verify its log, where the API offers it; otherwise the report says the
  log was not verified remotely (which is not a pass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosefinding.v1 import audit_service_pb2
from dosefinding_client import DoseFindingClient, ServiceError
from dosefinding_server.audit.export import select_records
from dosefinding_server.audit.signing import key_id, load_private_key
from dosefinding_server.audit.verify import verify_log
from dosefinding_server.config import Config
from dosefinding_server.storage.sqlite import Database


def verify_offline(data_dir: Path, receipts: list[dict[str, Any]]) -> dict[str, Any]:
    """Verify a stopped server's store, and find the trial run's receipts in it."""
    config = Config(data_dir=str(data_dir))
    public_key = load_private_key(config.signing_key_path).public_key()
    report = verify_log(config.database_path, None, public_keys=[public_key])
    missing = _missing_receipts(config.database_path, receipts) if report.ok else []
    return {
        "mode": "offline",
        "status": "pass" if report.ok and not missing else "fail",
        "verifier": "dosefinding_server.audit.verify.verify_log",
        "key_id": key_id(public_key),
        "records": report.records,
        "signed_records": report.signed_records,
        "checkpoints": report.checkpoints,
        "root_hash": report.root_hash.hex(),
        "problem": report.problem,
        "first_bad_sequence": report.first_bad_seq,
        "receipts_checked": len(receipts),
        "receipts_missing": missing,
        "summary": str(report),
    }


def _missing_receipts(database_path: Path, receipts: list[dict[str, Any]]) -> list[str]:
    """Receipts whose record is absent from the log or has another leaf hash."""
    with Database(database_path, read_only=True) as database:
        wanted = {r["sequence"] for r in receipts}
        leaves = {record.seq: record.leaf_hash.hex() for record in select_records(database)
                  if record.seq in wanted}
    return [f"{r['method']} receipt {r['sequence']}: " + ("not in the log" if r["sequence"] not in leaves
                                                         else "the record's leaf hash differs")
            for r in receipts if leaves.get(r["sequence"]) != r["leaf_hash"]]


def verify_remote(client: DoseFindingClient) -> dict[str, Any]:
    """Ask the server under test to verify its own log through ``AuditService.VerifyLog``."""
    service = audit_service_pb2.DESCRIPTOR.services_by_name.get("AuditService")
    if service is None or "VerifyLog" not in service.methods_by_name:
        return {"mode": "remote", "status": "not verified remotely",
                "summary": "the API of this version has no AuditService.VerifyLog"}
    try:
        response = client.call(client.audit.VerifyLog, audit_service_pb2.VerifyLogRequest())
    except ServiceError as error:
        return {"mode": "remote", "status": "fail", "summary": f"AuditService.VerifyLog failed: {error}"}
    return {
        "mode": "remote",
        "status": "pass" if response.ok else "fail",
        "verifier": "AuditService.VerifyLog (the server's own verification)",
        "records": response.records,
        "signed_records": response.signed_records,
        "checkpoints": response.checkpoints,
        "root_hash": response.root_hash.hex(),
        "problem": response.problem or None,
        "first_bad_sequence": (response.first_bad_sequence if response.HasField("first_bad_sequence")
                               else None),
        "summary": ("audit log verified by the server: " if response.ok else "audit log verification FAILED: ")
                   + (response.problem or f"{response.records} records, {response.checkpoints} checkpoints"),
    }
