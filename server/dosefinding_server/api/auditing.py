"""Which calls are audited, and what their audit entries hold.

Every call that decides or changes something is audited, and so is every
refused call.  Requests and responses are recorded as deterministic protobuf
bytes (see :mod:`.payloads`, which also shows them as JSON for review); a
refusal's answer is RFC 8785 canonical JSON of its status and message.
"""

from __future__ import annotations

from typing import Any

import rfc8785
from google.protobuf.message import Message

from dosefinding_server.audit.records import AuditEntry
from dosefinding_server.version import ENGINE_VERSION

from .calls import Call
from .payloads import AUDITED_SERVICES, message_bytes

#: Reads that decide nothing are not audited; everything else of these services is.
_NOT_AUDITED = frozenset({
    "/dosefinding.v1.TrialService/GetTrial",
    "/dosefinding.v1.TrialService/ListTrials",
    "/dosefinding.v1.SimulationService/GetDosePaths",
})
_AUDITED_SERVICES = frozenset(service.full_name for service in AUDITED_SERVICES)
UNAUTHENTICATED_PRINCIPAL = "(unauthenticated)"


def is_audited(method: str) -> bool:
    return method.strip("/").split("/")[0] in _AUDITED_SERVICES and method not in _NOT_AUDITED


def refusal_bytes(code: str, message: str) -> bytes:
    return rfc8785.dumps({"status": code, "message": message})


def entry(call: Call | None, method: str, principal: str, request: Message, response: bytes,
          status: str = "OK") -> AuditEntry:
    """The audit entry of one call; ``call`` carries what the servicer added (trial, design, seed, reason,
    and for a correction the record it corrects)."""
    details: dict[str, Any] = {}
    if call is not None:
        details = {"trial_id": call.trial_id, "design_sha256": call.design_sha256, "seed": call.seed,
                   "reason": call.reason, "corrects_seq": call.corrects_seq}
    return AuditEntry(principal=principal, method=method, request=message_bytes(request), response=response,
                      engine_version=ENGINE_VERSION, status=status, **details)
