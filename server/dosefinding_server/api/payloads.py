"""The messages of an audited call as its audit record holds them, and back.

A record keeps the request and the answer as deterministic protobuf bytes
(``SerializeToString(deterministic=True)``): exactly the message, at about a
hundredth of the cost of canonical JSON, which mattered because every
decision pays for it before its reply.  The hash chain covers those bytes as
stored; nothing ever has to re-create them.  For review (export) and replay
they are decoded with the method's own request and response types, found
from the service descriptors by the method name the record carries, and
shown as the proto3 JSON mapping with the .proto field names.  A refused
call's answer is a small JSON document (its status and message), and records
the audit log writes itself (key introductions) are JSON too; both are
shown as they are.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.message import DecodeError, Message

from dosefinding.v1 import decision_service_pb2, simulation_service_pb2, trial_service_pb2
from dosefinding_server.audit.export import stored_json
from dosefinding_server.audit.records import AuditRecord

#: The services whose calls are audited (every method but the reads listed in :mod:`.auditing`).
AUDITED_SERVICES = (
    decision_service_pb2.DESCRIPTOR.services_by_name["DecisionService"],
    trial_service_pb2.DESCRIPTOR.services_by_name["TrialService"],
    simulation_service_pb2.DESCRIPTOR.services_by_name["SimulationService"],
)

#: ``/package.Service/Method`` -> (request type, response type) of every audited service.
MESSAGE_TYPES: dict[str, tuple[type[Message], type[Message]]] = {
    f"/{service.full_name}/{method.name}": (message_factory.GetMessageClass(method.input_type),
                                            message_factory.GetMessageClass(method.output_type))
    for service in AUDITED_SERVICES for method in service.methods
}


def message_bytes(message: Message) -> bytes:
    """What a record holds of ``message``."""
    return message.SerializeToString(deterministic=True)


def parsed(record: AuditRecord, part: str) -> Message | None:
    """The ``part`` ("request" or "response") of ``record`` as its message, or ``None`` if it is not one.

    A response is a message only when the call succeeded (``status`` OK).
    """
    types = MESSAGE_TYPES.get(record.entry.method)
    if types is None or (part == "response" and record.entry.status != "OK"):
        return None
    message_type = types[0] if part == "request" else types[1]
    try:
        return message_type.FromString(getattr(record.entry, part))
    except DecodeError:
        return None


def review(record: AuditRecord, part: str) -> Any:
    """``part`` of ``record`` for a reader: the message as proto3 JSON, else the JSON or base64 it holds."""
    message = parsed(record, part)
    if message is None:
        return stored_json(record, part)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
