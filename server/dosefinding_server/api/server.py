"""Assemble the service: store, audit log, services, health, reflection, the interceptor, limits, TLS.

The audit log cannot be switched off: the server does not start unless it can
open the store and the log verifies (see :mod:`dosefinding_server.audit.startup`).

The data directory holds the store, the audit signing key, the checkpoint the
last clean shutdown signed (``trusted-checkpoint.json``), the public keys of
signing keys retired by :func:`rotate_signing_key` (``audit-keys/*.pub``: the
first one anchors verification of the whole key history), and a lock file held
by the server's primary process.

A server may run as several processes (``workers``): the primary takes the
lock and starts the audit writer (a process that verifies the log, then alone
appends to it for every serving process, and alone holds the private signing
key: :mod:`dosefinding_server.audit.writer`), then serves with the public key
the writer announced; each further worker (:func:`build_worker`) opens the same store,
serves the same port (``SO_REUSEPORT``: the kernel spreads connections over
the processes, so the service uses every core despite Python's global
interpreter lock) and sends its audited writes to the writer. Per-trial order
is kept by the store, where a write that lost a race to another process is
refused and answered ``ABORTED``.
"""

from __future__ import annotations

import fcntl
import json
import os
from concurrent import futures
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO

import grpc
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
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
from dosefinding_server.audit.errors import LogIntegrityError
from dosefinding_server.audit.log import AuditLog
from dosefinding_server.audit.signing import (Checkpoint, generate_private_key, key_id, load_private_key,
                                              load_public_key, public_key_from_raw, raw_public_key, save_private_key,
                                              save_public_key)
from dosefinding_server.audit.startup import active_key_id, open_audit_log
from dosefinding_server.audit.trail import AuditTrail
from dosefinding_server.audit.writer import RemoteAuditLog, pipes, relay
from dosefinding_server.config import Config
from dosefinding_server.processes import Children, Started, start_children
from dosefinding_server.security.authentication import Authenticator
from dosefinding_server.security.tls import server_credentials
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
#: gRPC's largest integer channel argument (its "unlimited" for durations in milliseconds).
GRPC_INT_MAX = 2**31 - 1
TRUSTED_CHECKPOINT_FILE = "trusted-checkpoint.json"
KEY_ARCHIVE_DIR = "audit-keys"
LOCK_FILE = "server.lock"


class DataDirInUse(OSError):
    """Another process (a server, or a key rotation) holds the data directory's lock."""


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    audit: AuditTrail
    database: Database
    data_dir: Path
    lock: IO[bytes] | None = None
    #: the plaintext loopback port for local health probes, if configured
    probe_port: int | None = None
    #: the audit writer process, if this primary started one (``workers`` > 1)
    writer: Children = field(default_factory=lambda: Children([]))
    #: the pipes to the audit writer that this primary's workers are to take (one list per worker)
    worker_appends: list[list[Connection]] = field(default_factory=list)

    def stop(self, grace: float | None = 5.0) -> None:
        """NOT_SERVING first, then drain calls for ``grace`` seconds, then sign a last checkpoint and close.

        The primary (the process holding the lock) also keeps that checkpoint outside the store; it stops
        after its workers, so its checkpoint covers theirs.
        """
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.audit.close()
        if self.lock is not None:
            save_trusted_checkpoint(self.data_dir, self.audit.latest_checkpoint())
        self.database.close()
        if self.lock is not None:
            self.lock.close()


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Take ``data_dir``'s exclusive lock, held until the returned file is closed (or the process dies).

    One log has one writer: a second server on the same store would append
    from a stale position, and a key rotation must not run under a live server.
    """
    handle = open(data_dir / LOCK_FILE, "a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataDirInUse(f"{data_dir} is in use by another dosefinding-server process "
                           "(a running server or a key rotation)") from None
    return handle


def archived_public_keys(data_dir: Path) -> list[Ed25519PublicKey]:
    """The public keys of retired signing keys (``DATA_DIR/audit-keys/*.pub``), trusted outright."""
    directory = data_dir / KEY_ARCHIVE_DIR
    return [load_public_key(path) for path in sorted(directory.glob("*.pub"))] if directory.is_dir() else []


def save_trusted_checkpoint(data_dir: Path, checkpoint: Checkpoint | None) -> None:
    """Keep the latest signed checkpoint outside the database, to detect truncation or an old copy at start."""
    if checkpoint is not None:
        path = data_dir / TRUSTED_CHECKPOINT_FILE
        path.with_suffix(".tmp").write_text(json.dumps(checkpoint.to_json(), indent=2))
        path.with_suffix(".tmp").replace(path)


def _trusted_checkpoint(data_dir: Path) -> Checkpoint | None:
    """The checkpoint kept at the last shutdown; a damaged one stops the start, as a damaged log does."""
    path = data_dir / TRUSTED_CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        return Checkpoint.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError) as error:
        raise LogIntegrityError(f"{path} does not hold a signed checkpoint ({error}); restore it from a copy "
                                "kept elsewhere") from None


def build_server(config: Config) -> RunningServer:
    """Open the store and the audit log, then start serving on ``config.listen``."""
    credentials = server_credentials(config)
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(data_dir)
    try:
        return _build_server(config, credentials, data_dir, lock)
    except BaseException:
        lock.close()
        raise


def build_worker(config: Config, appends: list[Connection], public_key: Ed25519PublicKey) -> RunningServer:
    """A further process of the server whose primary holds ``config.data_dir``: same store and port, its
    audited writes sent to the primary's audit writer over ``appends`` (pipes, one per request thread), the
    log's ``public_key`` (the writer's) shown and trusted; it never reads the private signing key."""
    return _build_server(config, server_credentials(config), Path(config.data_dir), None, (appends, public_key))


def serve_audit_writer(config: Config, appends: list[Connection], first_start: bool) -> Started:
    """The audit writer process's work: verify and open the log, then append what every serving process sends
    over ``appends``. ``first_start``: the store did not exist when the primary started.

    It is the only process of the server that reads the private signing key; it announces the public key
    (raw bytes) to the primary. Its stop commits what is queued, signs a final checkpoint and closes the store.
    """
    key = _signing_key(config, first_start)
    database = Database(config.database_path)
    try:
        audit = _open_audit_log(config, database, key, archived_public_keys(Path(config.data_dir)))
    except BaseException:
        database.close()
        raise
    relay(audit, appends)
    log.info("audit_writer_started", pipes=len(appends))

    def stop() -> None:
        audit.close()
        database.close()
    return Started(stop, raw_public_key(audit.public_key))


def _signing_key(config: Config, first_start: bool) -> Ed25519PrivateKey:
    """The audit signing key; made on the very first start (no store yet, no key file, none configured)."""
    if first_start and not config.signing_key_path.exists() and config.signing_key is None:
        save_private_key(generate_private_key(), config.signing_key_path)
        log.warning("signing_key_generated", path=str(config.signing_key_path))
    key = load_private_key(config.signing_key_path)
    log.info("signing_key", key_id=key_id(key.public_key()))
    return key


def _open_audit_log(config: Config, database: Database, key: Ed25519PrivateKey,
                    anchors: list[Ed25519PublicKey]) -> AuditLog:
    """The log in ``database``, verified against ``key``, the retired keys' ``anchors`` and the trusted
    checkpoint, to append to."""
    return open_audit_log(database, key, public_keys=anchors,
                          trusted_checkpoint=_trusted_checkpoint(Path(config.data_dir)),
                          checkpoint_every=config.checkpoint_every)


def _listen(server: grpc.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """Bind ``address`` (TLS with ``credentials``, else plaintext); the port bound. An address that cannot be
    bound is an ``OSError`` naming it (gRPC reports it as a ``RuntimeError`` or as port 0)."""
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {address}: the port is in use, or the host is not this machine's")
    return port


def _build_server(config: Config, credentials: grpc.ServerCredentials | None, data_dir: Path, lock: IO[bytes] | None,
                  remote: tuple[list[Connection], Ed25519PublicKey] | None = None) -> RunningServer:
    """Serve ``config``: as the primary (``lock`` held) or as a worker (``remote``: its pipes to the audit
    writer and the log's public key)."""
    anchors = archived_public_keys(data_dir)
    writer, worker_appends = Children([]), []
    first_start = not config.database_path.exists()
    primary_of_several = remote is None and config.workers > 1  # its audit writer holds the key
    key = _signing_key(config, first_start) if remote is None and not primary_of_several else None
    database = Database(config.database_path)
    try:
        audit: AuditTrail
        if remote is not None:
            audit = RemoteAuditLog(database, remote[1], remote[0])
        elif primary_of_several:
            writer, public_key, (own_appends, *worker_appends) = _start_audit_writer(config, first_start)
            audit = RemoteAuditLog(database, public_key, own_appends, lambda: writer.stop(5.0))
        else:
            assert key is not None
            audit = _open_audit_log(config, database, key, anchors)
    except BaseException:
        database.close()
        raise
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
            ("grpc.so_reuseport", int(config.workers > 1)),
            *((("grpc.max_connection_age_ms", min(round(config.max_connection_age * 1000), GRPC_INT_MAX)),)
              if config.max_connection_age > 0 else ()),
        ],
    )
    decision_service_pb2_grpc.add_DecisionServiceServicer_to_server(DecisionService(), server)
    simulation_service_pb2_grpc.add_SimulationServiceServicer_to_server(SimulationService(), server)
    trial_service = TrialService(trials)
    trial_service_pb2_grpc.add_TrialServiceServicer_to_server(trial_service, server)
    audit_service = AuditService(audit, Replayer(trial_service), anchors)
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(audit_service, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in SERVICE_NAMES + ("",):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(SERVICE_NAMES + (health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        port = _listen(server, config.listen, credentials)
        probe_port = _listen(server, config.probe_listen, None) if config.probe_listen else None
    except OSError:
        audit.close()
        database.close()
        raise
    server.start()
    return RunningServer(server, port, health_servicer, audit, database, data_dir, lock, probe_port, writer,
                         worker_appends)


def _start_audit_writer(config: Config, first_start: bool
                        ) -> tuple[Children, Ed25519PublicKey, list[list[Connection]]]:
    """The audit writer process (once it has verified and opened the log), the log's public key it
    announced, and the pipes to it for each serving process (this one's first)."""
    writer_ends, serving_ends = pipes(config.workers, config.max_workers)
    try:
        writer = start_children(
            [("dosefinding-audit-writer", serve_audit_writer, (config, writer_ends, first_start))], config.log_level)
    except BaseException:
        for connection in [end for ends in serving_ends for end in ends]:
            connection.close()
        raise
    finally:
        for connection in writer_ends:  # the writer holds them now: when it ends, every pipe breaks
            connection.close()
    return writer, public_key_from_raw(writer.announcements[0]), serving_ends


def rotate_signing_key(config: Config, new_key_path: str | Path) -> Checkpoint:
    """Hand the audit log's signing over to the key in ``new_key_path``; the server must be stopped.

    1. take the data directory's lock (refused while a server uses it);
    2. keep the current public key in ``DATA_DIR/audit-keys/<key id>.pub``, so
       verification can still anchor on the log's first key;
    3. verify the log and record the rotation in it
       (:meth:`~dosefinding_server.audit.log.AuditLog.rotate_key`: the current
       key signs everything so far and endorses the new key, which signs a
       checkpoint covering the rotation record);
    4. install the new key as the signing key file (atomic rename, mode 0600;
       the retired private key is not kept);
    5. keep the new key's checkpoint as the trusted checkpoint.

    Interrupted after step 3, the log's active key is already the new one and
    running the command again completes steps 4 and 5. Returns the checkpoint.
    """
    data_dir = Path(config.data_dir)
    if not config.database_path.is_file():
        raise LogIntegrityError(f"{config.database_path} does not exist: there is no audit log to rotate keys in")
    lock = lock_data_dir(data_dir)
    try:
        current, new = load_private_key(config.signing_key_path), load_private_key(new_key_path)
        current_id, new_id = key_id(current.public_key()), key_id(new.public_key())
        if current_id == new_id:
            raise ValueError(f"{new_key_path} holds the signing key already in use ({current_id})")
        (data_dir / KEY_ARCHIVE_DIR).mkdir(exist_ok=True)
        archived = data_dir / KEY_ARCHIVE_DIR / f"{current_id}.pub"
        if not archived.exists():
            save_public_key(current.public_key(), archived)
        with Database(config.database_path) as database:
            active = active_key_id(database)
            if active is None:
                raise LogIntegrityError(f"{config.database_path} holds no audit log to rotate keys in")
            if active not in (current_id, new_id):
                raise LogIntegrityError(f"the log's active signing key is {active}, neither the installed key "
                                        f"{current_id} nor the new key {new_id}")
            signer = current if active == current_id else new
            audit = open_audit_log(database, signer, public_keys=archived_public_keys(data_dir),
                                   trusted_checkpoint=_trusted_checkpoint(data_dir))
            try:
                checkpoint = audit.rotate_key(new) if active == current_id else audit.checkpoint()
            finally:
                audit.close()
        _install_private_key(new, config.signing_key_path)
        save_trusted_checkpoint(data_dir, checkpoint)
        log.warning("signing_key_rotated", previous_key_id=current_id, key_id=new_id,
                    tree_size=checkpoint.tree_size, archived_public_key=str(archived))
        return checkpoint
    finally:
        lock.close()


def _install_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write ``key`` to ``path`` (mode 0600) by an atomic rename, durably."""
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    save_private_key(key, staging)
    os.replace(staging, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
