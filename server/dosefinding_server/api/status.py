"""gRPC statuses for refused input: ``INVALID_ARGUMENT`` with ``google.rpc.BadRequest``."""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from dosefinding_server.engine.errors import InputError


def invalid_argument(error: InputError) -> grpc.Status:
    """One field violation per problem, naming the request field and what is wrong with it."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error))
    status.details.add().Pack(bad_request)
    return rpc_status.to_status(status)
