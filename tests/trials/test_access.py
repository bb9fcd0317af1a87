"""Who may do what: bearer-token identities with roles, against the TrialService and the DecisionService."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dosefinding.v1 import decision_service_pb2, outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError
from dosefinding_server.api.server import RunningServer
from dosefinding_server.config import Config
from dosefinding_server.security.principals import Role

from .support import (AUTH_CODES, LIFECYCLE, Caller, cohort, connect, create, design, key, record, running,
                      token_identities)

STATS = Caller("stats-team", "token-stats-0123456789", frozenset({Role.STATISTICIAN}))
EDC = Caller("edc-system", "token-edc-0123456789", frozenset({Role.SYSTEM}))
AUDITOR = Caller("qa-auditor", "token-audit-0123456789", frozenset({Role.AUDITOR}))
ADMIN = Caller("ops-admin", "token-admin-0123456789", frozenset({Role.ADMIN}))
NOBODY = Caller("no-roles", "token-nobody-0123456789", frozenset())
CALLERS = (STATS, EDC, AUDITOR, ADMIN, NOBODY)

ALLOWED: dict[str, frozenset[Caller]] = {
    "CreateTrial": frozenset({STATS, ADMIN}),
    "CloseTrial": frozenset({STATS, ADMIN}),
    "RecordOutcomes": frozenset({EDC, ADMIN}),
    "CorrectOutcome": frozenset({EDC, ADMIN}),
    "GetDecision": frozenset({STATS, EDC, ADMIN}),
    "GetTrial": frozenset({STATS, EDC, AUDITOR, ADMIN}),
    "ListTrials": frozenset({STATS, EDC, AUDITOR, ADMIN}),
    "EvaluateDesign": frozenset({STATS, EDC, ADMIN}),
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A plaintext loopback server with token identities: every call needs a valid token."""
    data_dir: Path = tmp_path_factory.mktemp("access")
    config = Config(listen="127.0.0.1:0", data_dir=str(data_dir), insecure=True, identities=token_identities(CALLERS))
    with running(config) as server:
        yield server


@pytest.fixture(scope="module")
def admin(secured: RunningServer) -> Iterator[DoseFindingClient]:
    with connect(f"127.0.0.1:{secured.port}", metadata=ADMIN.metadata) as client:
        yield client


def as_caller(secured: RunningServer, metadata: tuple[tuple[str, str], ...]) -> DoseFindingClient:
    return DoseFindingClient(f"127.0.0.1:{secured.port}", timeout=30.0, retries=0, metadata=metadata)


def calls(admin: DoseFindingClient) -> dict[str, Callable[[DoseFindingClient], Any]]:
    """Each method with a request that succeeds for whoever is allowed (state prepared by the admin)."""
    trial = record(admin, create(admin).trial, 1, cohort("p", [False, False, False])).trial
    return {
        "CreateTrial": lambda c: create(c),
        "CloseTrial": lambda c: c.call(c.trials.CloseTrial, tpb.CloseTrialRequest(
            trial_id=trial.trial_id, expected_version=trial.version, idempotency_key=key(), reason="done")),
        "RecordOutcomes": lambda c: record(c, trial, 2, cohort("q", [False])),
        "CorrectOutcome": lambda c: c.call(c.trials.CorrectOutcome, tpb.CorrectOutcomeRequest(
            trial_id=trial.trial_id, expected_version=trial.version, idempotency_key=key(), patient_id="p-1",
            corrected=outcomes_pb2.PatientOutcome(toxicity=True), reason="SDV")),
        "GetDecision": lambda c: c.call(c.trials.GetDecision, tpb.GetDecisionRequest(trial_id=trial.trial_id)),
        "GetTrial": lambda c: c.call(c.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id)),
        "ListTrials": lambda c: c.call(c.trials.ListTrials, tpb.ListTrialsRequest(page_size=1)),
        "EvaluateDesign": lambda c: c.call(c.decisions.EvaluateDesign, decision_service_pb2.EvaluateDesignRequest(
            design=design(LIFECYCLE), outcomes=outcomes_pb2.Outcomes(outcome_string="1NNN"))),
    }


@pytest.mark.parametrize("caller", CALLERS, ids=[c.name for c in CALLERS])
@pytest.mark.parametrize("method", sorted(ALLOWED))
def test_each_role_is_allowed_or_refused(secured: RunningServer, admin: DoseFindingClient, caller: Caller,
                                         method: str) -> None:
    call = calls(admin)[method]
    with as_caller(secured, caller.metadata) as client:
        size = secured.audit.size
        if caller in ALLOWED[method]:
            answer = call(client)
            assert answer.ByteSize() > 0
            return
        with pytest.raises(ServiceError) as caught:
            call(client)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert caller.name in caught.value.message and method in caught.value.message
    assert secured.audit.size == size + 1, "a refusal is audited"
    last = secured.audit.record(secured.audit.size).entry
    assert (last.principal, last.status) == (caller.name, "PERMISSION_DENIED")


@pytest.mark.parametrize("metadata", [
    (),
    (("authorization", "Bearer not-a-configured-token"),),
    (("authorization", f"Basic {ADMIN.token}"),),
    (("authorization", "Bearer "),),
], ids=["no-token", "wrong-token", "not-bearer", "empty-bearer"])
@pytest.mark.parametrize("method", sorted(ALLOWED))
def test_no_valid_token_is_unauthenticated(secured: RunningServer, admin: DoseFindingClient,
                                           metadata: tuple[tuple[str, str], ...], method: str) -> None:
    call = calls(admin)[method]
    with as_caller(secured, metadata) as client, pytest.raises(ServiceError) as caught:
        call(client)
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.code in AUTH_CODES
    assert secured.audit.record(secured.audit.size).entry.status == "UNAUTHENTICATED"


def test_health_needs_no_credentials(secured: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{secured.port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="dosefinding.v1.TrialService"), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_the_history_names_who_did_what(secured: RunningServer) -> None:
    with as_caller(secured, STATS.metadata) as stats, as_caller(secured, EDC.metadata) as edc, \
            as_caller(secured, AUDITOR.metadata) as auditor:
        trial = create(stats).trial
        assert trial.created_by == STATS.name
        recorded = record(edc, trial, 1, cohort("h", [False, False, False]))
        closed = stats.call(stats.trials.CloseTrial, tpb.CloseTrialRequest(
            trial_id=trial.trial_id, expected_version=recorded.trial.version, idempotency_key=key(), reason="end"))
        history = auditor.call(auditor.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    assert [(e.version, e.author) for e in history.events] == [(1, STATS.name), (2, EDC.name), (3, STATS.name)]
    assert secured.audit.record(closed.audit.sequence).entry.principal == STATS.name


def test_idempotency_keys_belong_to_their_caller(secured: RunningServer) -> None:
    """The same key and request from two callers are two trials, not a replay of the other's answer."""
    request = tpb.CreateTrialRequest(protocol_id="SHARED", design=design(LIFECYCLE), idempotency_key=key())
    with as_caller(secured, STATS.metadata) as stats, as_caller(secured, ADMIN.metadata) as admin:
        mine = stats.call(stats.trials.CreateTrial, request)
        theirs = admin.call(admin.trials.CreateTrial, request)
    assert not theirs.replayed and theirs.trial.trial_id != mine.trial.trial_id
