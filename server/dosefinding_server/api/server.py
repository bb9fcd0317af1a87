"""Assemble the service: store, audit log, services, health, reflection, the interceptor, limits, TLS.

The audit log cannot be switched off: the server does not start unless it can
open the store and the log verifies (see :mod:`dosefinding_server.audit.startup`).
"""

from __future__ import annotations

import json
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dosefinding.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    decision_service_pb2,
    decision_service_pb2_grpc,
    simulation_service_pb2,
    simulation_service_pb2_grpc,
    trial_service_pb2,
    trial_service_pb2_grpc,
)
from dosefinding_server.audit.log import AuditLog
from dosefinding_server.audit.signing import Checkpoint, generate_private_key, key_id, load_private_key, save_private_key
from dosefinding_server.audit.startup import open_audit_log
from dosefinding_server.config import Config
from dosefinding_server.security.authentication import Authenticator
from dosefinding_server.storage.sqlite import Database
from dosefinding_server.trials.store import TrialStore

from .audit_service import AuditService
from .decision_service import DecisionService
from .interceptor import CallInterceptor
from .replay import Replayer
from .simulation_service import SimulationService
from .trial_service import TrialService

log = structlog.get_logger("dosefinding.server")
SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in ((decision_service_pb2, "DecisionService"), (simulation_service_pb2, "SimulationService"),
                         (trial_service_pb2, "TrialService"), (audit_service_pb2, "AuditService"))
)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
TRUSTED_CHECKPOINT_FILE = "trusted-checkpoint.json"


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    audit: AuditLog
    database: Database
    data_dir: Path

    def stop(self, grace: float | None = 5.0) -> None:
        """NOT_SERVING first, then drain calls for ``grace`` seconds, then sign a last checkpoint and close."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.audit.close()
        save_trusted_checkpoint(self.data_dir, self.audit.latest_checkpoint())
        self.database.close()


def save_trusted_checkpoint(data_dir: Path, checkpoint: Checkpoint | None) -> None:
    """Keep the latest signed checkpoint outside the database, to detect truncation or an old copy at start."""
    if checkpoint is not None:
        path = data_dir / TRUSTED_CHECKPOINT_FILE
        path.with_suffix(".tmp").write_text(json.dumps(checkpoint.to_json(), indent=2))
        path.with_suffix(".tmp").replace(path)


def _trusted_checkpoint(data_dir: Path) -> Checkpoint | None:
    path = data_dir / TRUSTED_CHECKPOINT_FILE
    return Checkpoint.from_json(json.loads(path.read_text())) if path.exists() else None


def _credentials(config: Config) -> grpc.ServerCredentials | None:
    if config.insecure:
        return None
    if not (config.tls_cert and config.tls_key):
        raise ValueError("TLS needs tls_cert and tls_key (or --insecure on a loopback address)")
    chain = Path(config.tls_cert).read_bytes()
    key = Path(config.tls_key).read_bytes()
    client_ca = Path(config.client_ca).read_bytes() if config.client_ca else None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


def build_server(config: Config) -> RunningServer:
    """Open the store and the audit log, then start serving on ``config.listen``."""
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not config.database_path.exists() and not config.signing_key_path.exists() and config.signing_key is None:
        save_private_key(generate_private_key(), config.signing_key_path)
        log.warning("signing_key_generated", path=str(config.signing_key_path))
    key = load_private_key(config.signing_key_path)
    log.info("signing_key", key_id=key_id(key.public_key()))
    database = Database(config.database_path)
    audit = open_audit_log(database, key, trusted_checkpoint=_trusted_checkpoint(data_dir),
                           checkpoint_every=config.checkpoint_every)
    trials = TrialStore(database)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="rpc"),
        interceptors=[CallInterceptor(Authenticator(config.identities, config.insecure), audit)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.so_reuseport", 0),
        ],
    )
    decision_service_pb2_grpc.add_DecisionServiceServicer_to_server(DecisionService(), server)
    simulation_service_pb2_grpc.add_SimulationServiceServicer_to_server(SimulationService(), server)
    trial_service = TrialService(trials)
    trial_service_pb2_grpc.add_TrialServiceServicer_to_server(trial_service, server)
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(audit, Replayer(trial_service)), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in SERVICE_NAMES + ("",):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(SERVICE_NAMES + (health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    credentials = _credentials(config)
    port = (server.add_secure_port(config.listen, credentials) if credentials
            else server.add_insecure_port(config.listen))
    if port == 0:
        audit.close()
        database.close()
        raise OSError(f"cannot listen on {config.listen}")
    server.start()
    return RunningServer(server, port, health_servicer, audit, database, data_dir)
