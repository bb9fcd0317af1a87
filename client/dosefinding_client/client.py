"""A typed client: deadlines on every call, retries of transient failures, readable errors."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dosefinding.v1 import (
    audit_service_pb2_grpc,
    decision_service_pb2_grpc,
    simulation_service_pb2_grpc,
    trial_service_pb2_grpc,
)

T = TypeVar("T")
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass(frozen=True)
class Violation:
    field: str
    description: str


class ServiceError(Exception):
    """A call the service refused or failed, with its field violations when the input was bad."""

    def __init__(self, code: grpc.StatusCode, message: str, violations: tuple[Violation, ...] = ()):
        self.code = code
        self.message = message
        self.violations = violations
        if violations:
            lines = ["invalid argument:"] + [f"  {v.field}: {v.description}" for v in violations]
        else:
            lines = [f"{code.name}: {message}"]
        super().__init__("\n".join(lines))

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "ServiceError":
        violations: list[Violation] = []
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is not None:
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad_request = error_details_pb2.BadRequest()
                    detail.Unpack(bad_request)
                    violations.extend(Violation(v.field, v.description) for v in bad_request.field_violations)
        return cls(error.code(), error.details() or "", tuple(violations))


class DoseFindingClient:
    """Calls the service at ``target`` (``HOST:PORT``).

    Every call has a deadline (``timeout`` seconds, more than 0).  A call that
    finds the service unavailable or runs out of time is tried again, up to
    ``retries`` more times, with exponential back-off; calls that write carry
    an idempotency key, so that a retry never applies twice.
    Each client has a connection of its own (gRPC would otherwise share one
    between channels to the same address), so that a server running several
    worker processes, which spreads connections over them, spreads clients.
    """

    def __init__(self, target: str, *, credentials: grpc.ChannelCredentials | None = None,
                 timeout: float = 30.0, retries: int = 3,
                 metadata: tuple[tuple[str, str], ...] = ()) -> None:
        if not timeout > 0 or math.isinf(timeout):  # NaN fails the comparison too
            raise ValueError(f"timeout: {timeout} is not a number of seconds above 0")
        if retries < 0:
            raise ValueError(f"retries: {retries} is not 0 or more")
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.use_local_subchannel_pool", 1)]
        self.channel = (grpc.secure_channel(target, credentials, options) if credentials
                        else grpc.insecure_channel(target, options))
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.metadata = metadata
        self.decisions = decision_service_pb2_grpc.DecisionServiceStub(self.channel)
        self.simulations = simulation_service_pb2_grpc.SimulationServiceStub(self.channel)
        self.trials = trial_service_pb2_grpc.TrialServiceStub(self.channel)
        self.audit = audit_service_pb2_grpc.AuditServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "DoseFindingClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: Callable[..., T], request: Any, *, timeout: float | None = None) -> T:
        """Invoke a stub method with deadline and retries; raise :class:`ServiceError` on failure."""
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=timeout or self.timeout, metadata=self.metadata)
            except grpc.RpcError as error:
                if error.code() not in RETRYABLE or attempt == self.retries:
                    raise ServiceError.from_rpc_error(error) from None
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def stream(self, method: Callable[..., Iterator[T]], request: Any, *, timeout: float | None = None
               ) -> Iterator[T]:
        """The messages of a server-streaming stub method, under one deadline; raise :class:`ServiceError` on
        failure.  Not retried: the caller may have used part of the stream already."""
        try:
            yield from method(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            raise ServiceError.from_rpc_error(error) from None

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the channel is connected; a service that cannot be reached in time is an UNAVAILABLE
        :class:`ServiceError`, like any call to it."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE,
                               f"no connection to {self.target} within {timeout:g} s") from None
