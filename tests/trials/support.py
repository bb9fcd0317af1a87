"""Helpers of the TrialService end-to-end tests: designs, cohorts, servers with identities, test certificates."""

from __future__ import annotations

import datetime
import ipaddress
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dosefinding.v1 import decision_pb2, decision_service_pb2, design_pb2, outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages
from dosefinding_server.api.server import RunningServer, build_server
from dosefinding_server.config import Config
from dosefinding_server.security.authentication import Identities
from dosefinding_server.security.principals import Role, token_digest

CRM = {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}
#: A CRM that never stops by itself: the concurrency and benchmark trials can go on for ever.
OPEN_ENDED = [CRM]
#: The lifecycle design: CRM, no skipping of untried doses, stop at 18 patients.
LIFECYCLE = [CRM, {"stage": "dont_skip_doses", "when_escalating": True}, {"stage": "stop_at_n", "n": 18}]
AUTH_CODES = frozenset({grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED})


def design(stages: Sequence[Mapping[str, object]] = LIFECYCLE) -> design_pb2.Design:
    return design_from_stages(stages)


def key() -> str:
    """A fresh idempotency key."""
    return uuid.uuid4().hex


def cohort(prefix: str, toxicities: Sequence[bool]) -> list[outcomes_pb2.PatientOutcome]:
    """Patients ``<prefix>-1``, ``<prefix>-2``, ... with the given toxicities (dose left 0: the cohort's)."""
    return [outcomes_pb2.PatientOutcome(patient_id=f"{prefix}-{i}", toxicity=t)
            for i, t in enumerate(toxicities, start=1)]


def create(client: DoseFindingClient, stages: Sequence[Mapping[str, object]] = LIFECYCLE,
           protocol_id: str = "PROTO-1", **extra: object) -> tpb.CreateTrialResponse:
    request = tpb.CreateTrialRequest(protocol_id=protocol_id, design=design(stages), idempotency_key=key(), **extra)
    return client.call(client.trials.CreateTrial, request)


def decision_now(client: DoseFindingClient, trial_id: str) -> tpb.GetDecisionResponse:
    return client.call(client.trials.GetDecision, tpb.GetDecisionRequest(trial_id=trial_id))


def record(client: DoseFindingClient, trial: tpb.Trial, dose: int, patients: Sequence[outcomes_pb2.PatientOutcome],
           **extra: object) -> tpb.RecordOutcomesResponse:
    request = tpb.RecordOutcomesRequest(trial_id=trial.trial_id, expected_version=trial.version, dose=dose,
                                        patients=patients, idempotency_key=extra.pop("idempotency_key", key()),
                                        **extra)
    return client.call(client.trials.RecordOutcomes, request)


def record_as_recommended(client: DoseFindingClient, trial: tpb.Trial,
                          patients: Sequence[outcomes_pb2.PatientOutcome]) -> tpb.RecordOutcomesResponse:
    """Record a cohort at the dose the design recommends now."""
    now = decision_now(client, trial.trial_id)
    assert now.trial.version == trial.version
    return record(client, trial, now.decision.recommended_dose, patients)


def evaluate(client: DoseFindingClient, stages: Sequence[Mapping[str, object]] | design_pb2.Design,
             outcome_string: str) -> decision_service_pb2.EvaluateDesignResponse:
    """The stateless decision on the same design and outcomes."""
    design_message = stages if isinstance(stages, design_pb2.Design) else design(stages)
    request = decision_service_pb2.EvaluateDesignRequest(
        design=design_message, outcomes=outcomes_pb2.Outcomes(outcome_string=outcome_string))
    return client.call(client.decisions.EvaluateDesign, request)


def refused(call: object, *args: object, **kwargs: object) -> ServiceError:
    """The :class:`ServiceError` the call raises (the test fails if it does not)."""
    with pytest.raises(ServiceError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def invalid(call: object, *args: object, **kwargs: object) -> dict[str, str]:
    """The field violations of a call that must be ``INVALID_ARGUMENT``, by field."""
    error = refused(call, *args, **kwargs)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.violations, "INVALID_ARGUMENT without field violations"
    return {v.field: v.description for v in error.violations}


def same_decision(a: decision_pb2.Decision, b: decision_pb2.Decision) -> bool:
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


# Servers with identities.
@dataclass(frozen=True)
class Caller:
    """A configured token identity."""

    name: str
    token: str
    roles: frozenset[Role]

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def token_identities(callers: Sequence[Caller]) -> Identities:
    return Identities(tokens={token_digest(c.token): (c.name, c.roles) for c in callers})


@contextmanager
def running(config: Config) -> Iterator[RunningServer]:
    """``build_server(config)``, stopped at the end."""
    server = build_server(config)
    try:
        yield server
    finally:
        server.stop(grace=0.5)


@contextmanager
def connect(target: str, **kwargs: object) -> Iterator[DoseFindingClient]:
    with DoseFindingClient(target, timeout=30.0, retries=0, **kwargs) as client:  # type: ignore[arg-type]
        yield client


# Test certificates.
@dataclass(frozen=True)
class Issued:
    """A key and certificate, PEM-encoded."""

    key: bytes
    certificate: bytes
    subject: str


def _name(common_name: str, organisation: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attributes)


class TestAuthority:
    """A throw-away CA issuing server and client certificates (ECDSA P-256, valid for a day)."""

    __test__ = False

    def __init__(self, name: str = "dosefinding test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self._name = _name(name, None)
        self.certificate = (
            x509.CertificateBuilder().subject_name(self._name).issuer_name(self._name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(self._key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, organisation: str | None = None, *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = _name(common_name, organisation)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self._name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH if server
                                                  else x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return Issued(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
                      certificate.public_bytes(serialization.Encoding.PEM), subject.rfc4514_string())


def write_pem(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def history(client: DoseFindingClient, trial_id: str) -> tpb.GetTrialResponse:
    return client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial_id))


@dataclass
class Writer:
    """A thread recording its cohorts one by one, reading and retrying on ABORTED."""

    name: str
    client: DoseFindingClient
    trial_id: str
    cohorts: int
    acknowledged: list[tpb.RecordOutcomesResponse] = field(default_factory=list)
    aborted: int = 0
    error: BaseException | None = None

    def run(self, race: threading.Barrier) -> None:
        """Record every cohort; all writers read the trial before any writes, so the first round collides."""
        try:
            for number in range(self.cohorts):
                patients = cohort(f"{self.name}-c{number}", [False, False, False])
                first_try = True
                while True:
                    now = decision_now(self.client, self.trial_id)
                    if number == 0 and first_try:
                        race.wait(timeout=30)
                    first_try = False
                    try:
                        answer = record(self.client, now.trial, now.decision.recommended_dose, patients)
                    except ServiceError as error:
                        if error.code != grpc.StatusCode.ABORTED:
                            raise
                        self.aborted += 1
                        continue
                    self.acknowledged.append(answer)
                    break
        except BaseException as error:  # reported by the test
            self.error = error
