"""Replay: re-derive every logged decision with the current engine and report each that differs.

This is how a new version is shown to reproduce history.  A stateless call
(every ``DecisionService`` method) is re-run on its logged request and its
whole answer compared; a trial call's decision is re-derived from the trial's
events up to the version it answered at.  Refused calls, and calls that decide
nothing (creating or closing a trial), are counted as skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from google.protobuf import json_format
from google.protobuf.message import Message

from dosefinding.v1 import decision_service_pb2, trial_service_pb2
from dosefinding_server.audit.records import AuditRecord
from dosefinding_server.security.principals import ALL_ROLES, Principal
from dosefinding_server.trials import model

from .calls import Call, enter, leave
from .decision_service import DecisionService
from .payloads import parsed
from .trial_service import TrialService
from .translate import decision_to_proto

REPLAYER = Principal("replay", ALL_ROLES, "replay")
_TRIAL_DECISIONS = frozenset({
    "/dosefinding.v1.TrialService/GetDecision",
    "/dosefinding.v1.TrialService/RecordOutcomes",
    "/dosefinding.v1.TrialService/CorrectOutcome",
})


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    differences: list[tuple[AuditRecord, str]] = field(default_factory=list)


def _answer(message: Message) -> dict[str, Any]:
    answer = json_format.MessageToDict(message, preserving_proto_field_name=True)
    answer.pop("audit", None)
    return answer


def _first_difference(logged: Any, now: Any, path: str = "") -> str:
    if isinstance(logged, dict) and isinstance(now, dict):
        for key in sorted(set(logged) | set(now)):
            if logged.get(key) != now.get(key):
                return _first_difference(logged.get(key), now.get(key), f"{path}.{key}" if path else key)
    if isinstance(logged, list) and isinstance(now, list) and len(logged) == len(now):
        for index, (a, b) in enumerate(zip(logged, now)):
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
    return f"{path or 'answer'}: logged {json.dumps(logged)[:120]}, now {json.dumps(now)[:120]}"


class Replayer:
    """Re-runs logged calls against the current engine."""

    def __init__(self, trials: TrialService) -> None:
        self.trials = trials
        decisions = DecisionService()
        service = decision_service_pb2.DESCRIPTOR.services_by_name["DecisionService"]
        self.stateless: dict[str, Callable[..., Message]] = {
            f"/{service.full_name}/{method.name}": getattr(decisions, method.name) for method in service.methods
        }

    def replay(self, records: Iterable[AuditRecord]) -> ReplayReport:
        report = ReplayReport()
        for record in records:
            difference = self.replay_one(record)
            if difference is None:
                report.skipped += 1
                continue
            report.replayed += 1
            if difference:
                report.differences.append((record, difference))
        return report

    def replay_one(self, record: AuditRecord) -> str | None:
        """``None`` when the record holds no decision; ``""`` when it is reproduced; else the difference."""
        entry = record.entry
        request, response = parsed(record, "request"), parsed(record, "response")
        if request is None or response is None:
            return None
        logged = _answer(response)
        handler = self.stateless.get(entry.method)
        if handler is not None:
            token = enter(Call("replay", entry.method, REPLAYER))
            try:
                now = _answer(handler(request, None))
            finally:
                leave(token)
            return "" if now == logged else _first_difference(logged, now)
        if entry.method not in _TRIAL_DECISIONS:
            return None
        version = int(logged["trial"]["version"])
        state = model.fold(e for e in self.trials.store.events(logged["trial"]["trial_id"]) if e.version <= version)
        if state is None:
            return f"trial {logged['trial']['trial_id']} has no events"
        if isinstance(request, trial_service_pb2.GetDecisionRequest):
            now = _answer(self.trials.decision_response(state, request).decision)
        else:
            now = _answer(decision_to_proto(self.trials.decision(state, request)))
        return "" if now == logged.get("decision") else _first_difference(logged.get("decision"), now, "decision")
