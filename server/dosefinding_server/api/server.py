"""Assemble the gRPC server: services, health, reflection, interceptor, limits."""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dosefinding.v1 import (
    decision_service_pb2,
    decision_service_pb2_grpc,
    simulation_service_pb2,
    simulation_service_pb2_grpc,
)

from .decision_service import DecisionService
from .interceptor import CallInterceptor
from .simulation_service import SimulationService

SERVICE_NAMES = (
    decision_service_pb2.DESCRIPTOR.services_by_name["DecisionService"].full_name,
    simulation_service_pb2.DESCRIPTOR.services_by_name["SimulationService"].full_name,
)


@dataclass(frozen=True)
class ServerOptions:
    """Transport settings; every limit is explicit rather than gRPC's default."""

    max_workers: int = 16
    max_message_bytes: int = 16 * 1024 * 1024
    keepalive_time_ms: int = 60_000
    keepalive_timeout_ms: int = 20_000


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer

    def stop(self, grace: float | None = 5.0) -> None:
        """Report NOT_SERVING, then drain in-flight calls for ``grace`` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()


def build_server(listen: str, options: ServerOptions = ServerOptions(),
                 credentials: grpc.ServerCredentials | None = None) -> RunningServer:
    """Create and start a server bound to ``listen`` (``HOST:PORT``; port 0 picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.max_workers, thread_name_prefix="rpc"),
        interceptors=[CallInterceptor()],
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
            ("grpc.keepalive_time_ms", options.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", options.keepalive_timeout_ms),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.so_reuseport", 0),
        ],
    )
    decision_service_pb2_grpc.add_DecisionServiceServicer_to_server(DecisionService(), server)
    simulation_service_pb2_grpc.add_SimulationServiceServicer_to_server(SimulationService(), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in SERVICE_NAMES + ("",):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(SERVICE_NAMES + (health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if credentials is None:
        port = server.add_insecure_port(listen)
    else:
        port = server.add_secure_port(listen, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return RunningServer(server, port, health_servicer)
