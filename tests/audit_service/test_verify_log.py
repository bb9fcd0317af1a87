"""VerifyLog over gRPC: against checkpoints the auditor kept, forged ones, and a log restored from an old copy."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dosefinding.v1 import audit_pb2
from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding_client import DoseFindingClient
from dosefinding_server.api.audit_service import checkpoint_message
from dosefinding_server.api.server import TRUSTED_CHECKPOINT_FILE, RunningServer, build_server
from dosefinding_server.audit.errors import LogIntegrityError
from dosefinding_server.audit.signing import load_private_key, sign_checkpoint
from dosefinding_server.config import Config

from .support import DECISIONS, call_decision, decision_requests


def verify(client: DoseFindingClient, trusted: audit_pb2.Checkpoint | None = None) -> apb.VerifyLogResponse:
    request = apb.VerifyLogRequest()
    if trusted is not None:
        request.trusted_checkpoint.CopyFrom(trusted)
    return client.call(client.audit.VerifyLog, request)


def altered(checkpoint: audit_pb2.Checkpoint, **changes: object) -> audit_pb2.Checkpoint:
    copy = audit_pb2.Checkpoint()
    copy.CopyFrom(checkpoint)
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def test_the_log_verifies_against_every_checkpoint_the_auditor_kept(auditor, workload):
    plain = verify(auditor)
    assert plain.ok and plain.problem == "" and not plain.HasField("first_bad_sequence")
    assert plain.records >= workload.size and plain.checkpoints >= len(workload.checkpoints)
    for kept in workload.checkpoints:
        report = verify(auditor, kept)
        assert report.ok, f"checkpoint at {kept.tree_size}: {report.problem}"
        assert report.records >= kept.tree_size


def test_a_checkpoint_with_a_bad_signature_is_rejected_as_forged(auditor, workload):
    kept = workload.checkpoints[-1]
    forged = altered(kept, signature=bytes([kept.signature[0] ^ 1]) + kept.signature[1:])
    report = verify(auditor, forged)
    assert not report.ok and "forged" in report.problem
    reroot = altered(kept, root_hash=bytes(32))
    report = verify(auditor, reroot)
    assert not report.ok and "forged" in report.problem


def test_a_checkpoint_signed_by_another_key_is_rejected(auditor, workload, audit_server):
    impostor = Ed25519PrivateKey.generate()
    genuine = load_private_key(audit_server.data_dir / "audit-signing-key.pem")
    root = auditor.call(auditor.audit.GetInclusionProof,
                        apb.GetInclusionProofRequest(sequence=1, tree_size=workload.size)).root_hash
    assert verify(auditor, checkpoint_message(sign_checkpoint(genuine, workload.size, root,
                                                              "2031-05-06T07:08:09.101112Z"))).ok
    report = verify(auditor, checkpoint_message(sign_checkpoint(impostor, workload.size, root,
                                                                "2031-05-06T07:08:09.101112Z")))
    assert not report.ok and "forged" in report.problem


@pytest.mark.parametrize("signed_at", ["2031-05-06T07:08:09.123000Z", "2031-05-06T07:08:09.000000Z"])
def test_a_checkpoint_signed_on_a_whole_millisecond_or_second_verifies(auditor, workload, audit_server, signed_at):
    """Protobuf's JSON form of such instants has 3 or 0 fractional digits; the signed form always has 6."""
    key = load_private_key(audit_server.data_dir / "audit-signing-key.pem")
    root = auditor.call(auditor.audit.GetInclusionProof,
                        apb.GetInclusionProofRequest(sequence=1, tree_size=workload.size)).root_hash
    report = verify(auditor, checkpoint_message(sign_checkpoint(key, workload.size, root, signed_at)))
    assert report.ok, report.problem


def test_a_genuine_checkpoint_beyond_the_log_says_the_log_shrank(auditor, workload, audit_server):
    key = load_private_key(audit_server.data_dir / "audit-signing-key.pem")
    size = verify(auditor).records
    beyond = checkpoint_message(sign_checkpoint(key, size + 10, bytes(32), "2031-05-06T07:08:09.101112Z"))
    report = verify(auditor, beyond)
    assert not report.ok and "shrunk" in report.problem
    assert report.first_bad_sequence == size + 1


def _evaluate(client: DoseFindingClient, times: int) -> None:
    method = DECISIONS + "EvaluateDesign"
    for _ in range(times):
        call_decision(client, method, decision_requests()[method])


def _latest(client: DoseFindingClient) -> apb.GetLatestCheckpointResponse:
    return client.call(client.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest())


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[list[RunningServer]]:
    """Servers started by a test (insecure local mode: every caller is admin), stopped at its end."""
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.stop(grace=0.5)


def _start(serving: list[RunningServer], data_dir: Path) -> tuple[RunningServer, DoseFindingClient]:
    server = build_server(Config(listen="127.0.0.1:0", data_dir=str(data_dir), insecure=True, checkpoint_every=3))
    serving.append(server)
    client = DoseFindingClient(f"127.0.0.1:{server.port}", timeout=30.0, retries=0)
    client.wait_ready()
    return server, client


def test_a_log_restored_from_an_older_copy_fails_against_the_kept_checkpoint_and_then_forks(tmp_path, serving):
    live, restored = tmp_path / "live", tmp_path / "restored"
    server, client = _start(serving, live)
    _evaluate(client, 5)
    restored.mkdir()
    server.database.backup(restored / "dosefinding.sqlite3")
    shutil.copy2(live / "audit-signing-key.pem", restored / "audit-signing-key.pem")
    copied = _latest(client).size
    _evaluate(client, 6)
    kept = _latest(client).checkpoint
    assert kept.tree_size > copied
    assert verify(client, kept).ok
    client.close()
    serving.remove(server)
    server.stop(grace=0.5)

    old_server, old_client = _start(serving, restored)
    assert verify(old_client).ok, "on its own the old copy is a valid log: only a kept checkpoint shows the loss"
    report = verify(old_client, kept)
    assert not report.ok and "shrunk" in report.problem
    assert report.first_bad_sequence == copied + 1
    _evaluate(old_client, kept.tree_size - copied + 1)
    report = verify(old_client, kept)
    assert not report.ok and "forked" in report.problem
    old_client.close()
    serving.remove(old_server)
    old_server.stop(grace=0.5)

    shutil.copy2(live / TRUSTED_CHECKPOINT_FILE, restored / TRUSTED_CHECKPOINT_FILE)
    with pytest.raises(LogIntegrityError, match="refusing to start: .*(shrunk|forked)"):
        build_server(Config(listen="127.0.0.1:0", data_dir=str(restored), insecure=True))
    server, client = _start(serving, live)
    assert verify(client, kept).ok, "the live store still extends the checkpoint kept from it"
    client.close()


@pytest.mark.parametrize("damage, problem", [
    ("{}", "tree_size: missing"),
    ("[1]", "expected an object, not [1]"),
    ('{"tree_size": "6"}', "tree_size: '6' is not an integer"),
    ("not json", "Expecting value"),
])
def test_a_damaged_kept_checkpoint_stops_the_start_in_words(tmp_path: Path, damage: str, problem: str) -> None:
    build_server(Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True)).stop(grace=0.5)
    (tmp_path / TRUSTED_CHECKPOINT_FILE).write_text(damage)
    with pytest.raises(LogIntegrityError) as refused:
        build_server(Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True))
    assert str(refused.value).startswith(f"{tmp_path / TRUSTED_CHECKPOINT_FILE} does not hold a signed checkpoint (")
    assert problem in str(refused.value) and str(refused.value).endswith("restore it from a copy kept elsewhere")
