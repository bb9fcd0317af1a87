"""One real server with token identities for the AuditService tests, and a small log made through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import grpc
import pytest
from google.protobuf.message import Message

from dosefinding.v1 import audit_pb2
from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import outcomes_pb2
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages
from dosefinding_server.api.server import RunningServer, build_server
from dosefinding_server.config import Config

from .support import (ADMIN, AUDITOR, CRM, DECISIONS, STATISTICIAN, SYSTEM, call_decision, connect,
                      decision_requests, identities, run_trial)

CHECKPOINT_EVERY = 4
#: The close reason of the first trial looks like a spreadsheet formula, to test the CSV export's guard.
FORMULA_REASON = "=HYPERLINK(\"http://example.invalid\") enrolment complete"


@dataclass
class Workload:
    """What the module-wide workload left in the log, as the clients saw it."""

    size: int
    trial_ids: list[str]
    #: Every signed checkpoint the clients saw appear, oldest first (all verified by signature later).
    checkpoints: list[audit_pb2.Checkpoint]
    public_key_pem: str
    #: Receipts handed out in responses: sequence number -> (method, request).
    receipts: dict[int, tuple[str, Message]] = field(default_factory=dict)


@pytest.fixture(scope="package")
def audit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server with bearer-token identities (auditor, admin, statistician, system) on loopback."""
    data_dir = tmp_path_factory.mktemp("audit-service")
    running = build_server(Config(listen="127.0.0.1:0", data_dir=str(data_dir), insecure=True,
                                  identities=identities(), checkpoint_every=CHECKPOINT_EVERY))
    yield running
    running.stop(grace=1.0)


@pytest.fixture(scope="package")
def auditor(audit_server: RunningServer) -> Iterator[DoseFindingClient]:
    with connect(audit_server.port, AUDITOR) as client:
        yield client


@pytest.fixture(scope="package")
def admin(audit_server: RunningServer) -> Iterator[DoseFindingClient]:
    with connect(audit_server.port, ADMIN) as client:
        yield client


def _keep_checkpoint(auditor: DoseFindingClient, kept: list[audit_pb2.Checkpoint]) -> None:
    latest = auditor.call(auditor.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest())
    assert latest.HasField("checkpoint")
    if not kept or kept[-1].tree_size != latest.checkpoint.tree_size:
        kept.append(latest.checkpoint)


@pytest.fixture(scope="package")
def workload(audit_server: RunningServer, auditor: DoseFindingClient, admin: DoseFindingClient) -> Workload:
    """Every DecisionService method, two trial lifecycles, and refused calls; then enough calls that a
    signed checkpoint covers all of it. The auditor keeps each checkpoint as it appears."""
    kept: list[audit_pb2.Checkpoint] = []
    receipts: dict[int, tuple[str, Message]] = {}
    _keep_checkpoint(auditor, kept)
    for method, request in decision_requests().items():
        response = call_decision(admin, method, request)
        if response.DESCRIPTOR.fields_by_name.get("audit") is not None:
            receipts[response.audit.sequence] = (method, request)
        _keep_checkpoint(auditor, kept)
    with connect(audit_server.port, STATISTICIAN) as statistician, connect(audit_server.port, SYSTEM) as system:
        trial_ids = [run_trial(statistician, system, protocol_id="AUDIT-1", close_reason=FORMULA_REASON)]
        _keep_checkpoint(auditor, kept)
        trial_ids.append(run_trial(statistician, system, protocol_id="AUDIT-2"))
        _keep_checkpoint(auditor, kept)
    bad = dpb.EvaluateDesignRequest(design=design_from_stages([CRM]),
                                    outcomes=outcomes_pb2.Outcomes(outcome_string="1NNN 9NN"))
    with pytest.raises(ServiceError) as refused:
        admin.call(admin.decisions.EvaluateDesign, bad)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ServiceError) as denied:
        auditor.call(auditor.decisions.EvaluateDesign, decision_requests()[DECISIONS + "EvaluateDesign"])
    assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    size = auditor.call(auditor.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest()).size
    evaluate = decision_requests()[DECISIONS + "EvaluateDesign"]
    while kept[-1].tree_size < size:
        response = call_decision(admin, DECISIONS + "EvaluateDesign", evaluate)
        receipts[response.audit.sequence] = (DECISIONS + "EvaluateDesign", evaluate)
        _keep_checkpoint(auditor, kept)
    latest = auditor.call(auditor.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest())
    return Workload(size=kept[-1].tree_size, trial_ids=trial_ids, checkpoints=kept,
                    public_key_pem=latest.public_key_pem, receipts=receipts)
