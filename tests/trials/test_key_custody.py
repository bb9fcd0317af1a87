"""Which process of a multi-process server holds the private audit signing key: the audit writer alone.

The request-facing processes (the primary and its workers) serve with the public key the writer announced,
so a compromised request thread cannot sign checkpoints. The writer also verifies the log at start; a log
that fails verification stops the server before anything serves.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dosefinding.v1 import audit_service_pb2
from dosefinding_server.api import server as server_module
from dosefinding_server.api.server import build_server, build_worker
from dosefinding_server.audit.signing import load_private_key, raw_public_key
from dosefinding_server.config import Config
from dosefinding_server.processes import ProcessFailed

from .support import OPEN_ENDED, cohort, connect, create, record


def test_only_the_audit_writer_makes_and_reads_the_private_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """The primary and a worker serve (and commit through the writer) with key reading and making refused in
    their process; the key they show is the one in the key file the writer made on this first start."""
    def refuse(*_: object) -> None:
        raise AssertionError("a serving process touched the private signing key")

    monkeypatch.setattr(server_module, "load_private_key", refuse)
    monkeypatch.setattr(server_module, "generate_private_key", refuse)
    config = Config(listen="127.0.0.1:0", data_dir=str(tmp_path / "data"), insecure=True, workers=2, max_workers=4)
    primary = build_server(config)
    try:
        address = f"127.0.0.1:{primary.port}"
        (worker_pipes,) = primary.worker_appends
        worker = build_worker(replace(config, listen=address), worker_pipes, primary.audit.public_key)
        try:
            written = load_private_key(config.signing_key_path).public_key()
            shown = {raw_public_key(running.audit.public_key) for running in (primary, worker)}
            assert shown == {raw_public_key(written)}
            with connect(address) as client:
                trial = create(client, OPEN_ENDED).trial
                answer = record(client, trial, 1, cohort("a", [False, False, False]))
                checkpoint = client.call(client.audit.GetLatestCheckpoint,
                                         audit_service_pb2.GetLatestCheckpointRequest())
            assert answer.audit.sequence > 0
            assert checkpoint.public_key_pem.encode() == written.public_bytes(
                Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        finally:
            worker.stop(0.5)
    finally:
        primary.stop(0.5)


def test_a_log_that_fails_verification_stops_a_multi_process_server_before_it_serves(tmp_path: Path) -> None:
    """The writer verifies the log: a store gone missing behind a kept checkpoint is refused, and the primary
    reports the writer's reason."""
    config = Config(listen="127.0.0.1:0", data_dir=str(tmp_path / "data"), insecure=True)
    first = build_server(config)
    with connect(f"127.0.0.1:{first.port}") as client:
        create(client, OPEN_ENDED)
    first.stop(0.5)
    for path in config.database_path.parent.glob(config.database_path.name + "*"):
        path.unlink()
    with pytest.raises(ProcessFailed, match="dosefinding-audit-writer did not start: LogIntegrityError: "
                                            "refusing to start: the store holds no audit log"):
        build_server(replace(config, workers=2))
