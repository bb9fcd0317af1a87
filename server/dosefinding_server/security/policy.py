"""Which roles may call which method; anything not listed is refused."""

from __future__ import annotations

from .principals import Role

S, Y, A = Role.STATISTICIAN, Role.SYSTEM, Role.AUDITOR
_DESIGN_WORK = frozenset({S, Y})

_BY_SERVICE: dict[str, frozenset[Role]] = {
    "dosefinding.v1.DecisionService": _DESIGN_WORK,
    "dosefinding.v1.SimulationService": frozenset({S}),
    "dosefinding.v1.AuditService": frozenset({A}),
}
_BY_METHOD: dict[str, frozenset[Role]] = {
    "/dosefinding.v1.TrialService/CreateTrial": frozenset({S}),
    "/dosefinding.v1.TrialService/CloseTrial": frozenset({S}),
    "/dosefinding.v1.TrialService/RecordOutcomes": frozenset({Y}),
    "/dosefinding.v1.TrialService/CorrectOutcome": frozenset({Y}),
    "/dosefinding.v1.TrialService/AssignPatient": frozenset({Y}),
    "/dosefinding.v1.TrialService/GetDecision": frozenset({S, Y}),
    "/dosefinding.v1.TrialService/GetTrial": frozenset({S, Y, A}),
    "/dosefinding.v1.TrialService/ListTrials": frozenset({S, Y, A}),
}
#: Infrastructure every client (and orchestrator) may use without credentials.
OPEN_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                           "grpc.reflection.v1.ServerReflection"})


def service_of(method: str) -> str:
    return method.strip("/").split("/")[0]


def is_open(method: str) -> bool:
    return service_of(method) in OPEN_SERVICES


def allowed_roles(method: str) -> frozenset[Role]:
    """Roles allowed besides admin (an empty set: admin only)."""
    return _BY_METHOD.get(method) or _BY_SERVICE.get(service_of(method), frozenset())
