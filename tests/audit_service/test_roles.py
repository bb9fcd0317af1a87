"""Only auditors and admins may use the AuditService; every refused attempt is itself audited."""

from __future__ import annotations

from typing import Any, Callable

import grpc
import pytest

from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding_client import DoseFindingClient

from .support import ADMIN, AUDITOR, STATISTICIAN, SYSTEM, Caller, connect, export_jsonl

SERVICE = "/dosefinding.v1.AuditService/"
CALLS: dict[str, Callable[[DoseFindingClient], Any]] = {
    "GetLatestCheckpoint": lambda c: c.audit.GetLatestCheckpoint(
        apb.GetLatestCheckpointRequest(), timeout=c.timeout, metadata=c.metadata),
    "GetInclusionProof": lambda c: c.audit.GetInclusionProof(
        apb.GetInclusionProofRequest(sequence=1, tree_size=1), timeout=c.timeout, metadata=c.metadata),
    "GetConsistencyProof": lambda c: c.audit.GetConsistencyProof(
        apb.GetConsistencyProofRequest(old_size=1, new_size=1), timeout=c.timeout, metadata=c.metadata),
    "VerifyLog": lambda c: c.audit.VerifyLog(apb.VerifyLogRequest(), timeout=c.timeout, metadata=c.metadata),
    "ExportRecords": lambda c: list(c.audit.ExportRecords(
        apb.ExportRecordsRequest(format=apb.EXPORT_FORMAT_JSONL), timeout=c.timeout, metadata=c.metadata)),
    "ReplayDecisions": lambda c: c.audit.ReplayDecisions(
        apb.ReplayDecisionsRequest(first_sequence=1, last_sequence=1), timeout=c.timeout, metadata=c.metadata),
}
IMPOSTOR = Caller("impostor", "not-a-configured-token-" + "x" * 16, frozenset())


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("caller", [AUDITOR, ADMIN], ids=lambda c: c.name)
def test_auditors_and_admins_may_call(audit_server, workload, caller, method):
    with connect(audit_server.port, caller) as client:
        assert CALLS[method](client) is not None


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("caller, code", [
    (STATISTICIAN, grpc.StatusCode.PERMISSION_DENIED),
    (SYSTEM, grpc.StatusCode.PERMISSION_DENIED),
    (IMPOSTOR, grpc.StatusCode.UNAUTHENTICATED),
    (None, grpc.StatusCode.UNAUTHENTICATED),
], ids=["statistician", "system", "bad-token", "no-credentials"])
def test_everyone_else_is_refused_and_the_refusal_is_audited(audit_server, auditor, workload, caller, code, method):
    with connect(audit_server.port, caller) as client:
        with pytest.raises(grpc.RpcError) as refused:
            CALLS[method](client)
    assert refused.value.code() == code
    last = export_jsonl(auditor)[-1]
    assert (last["method"], last["status"]) == (SERVICE + method, code.name)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        assert last["principal"] == caller.name
        assert f"may not call {SERVICE + method}" in last["response"]["message"]
    else:
        assert last["principal"] == "(unauthenticated)"
