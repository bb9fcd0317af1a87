"""Mutual TLS: callers are identified by their certificate's subject, checked against configured roles."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError
from dosefinding_server.api.server import RunningServer
from dosefinding_server.config import Config
from dosefinding_server.security.authentication import Identities
from dosefinding_server.security.principals import Role

from .support import (LIFECYCLE, Caller, Issued, TestAuthority, cohort, create, evaluate, record, running,
                      token_identities, write_pem)


class Certificates:
    """One CA with a server certificate and client certificates; a second, untrusted CA."""

    def __init__(self) -> None:
        self.ca = TestAuthority()
        self.server = self.ca.issue("localhost", "Dose Finding Service", server=True)
        self.stats = self.ca.issue("stats.example.org", "Sponsor")
        self.edc = self.ca.issue("edc.example.org", "Sponsor")
        self.stranger = self.ca.issue("stranger.example.org", "Sponsor")
        self.impostor = TestAuthority("another CA").issue("stats.example.org", "Sponsor")


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    return Certificates()


@pytest.fixture(scope="module")
def mtls(certificates: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("mtls")
    config = Config(
        listen="127.0.0.1:0", data_dir=str(directory / "data"),
        tls_cert=write_pem(directory, "server.pem", certificates.server.certificate),
        tls_key=write_pem(directory, "server.key", certificates.server.key),
        client_ca=write_pem(directory, "ca.pem", certificates.ca.pem),
        identities=Identities(subjects={certificates.stats.subject: frozenset({Role.STATISTICIAN}),
                                        certificates.edc.subject: frozenset({Role.SYSTEM})}),
    )
    with running(config) as server:
        yield server


def client_for(server: RunningServer, root: bytes, issued: Issued | None) -> DoseFindingClient:
    credentials = grpc.ssl_channel_credentials(root_certificates=root, private_key=issued and issued.key,
                                               certificate_chain=issued and issued.certificate)
    return DoseFindingClient(f"127.0.0.1:{server.port}", credentials=credentials, timeout=20.0, retries=0)


def test_the_subject_format_is_the_configured_one(certificates: Certificates) -> None:
    assert certificates.stats.subject == "CN=stats.example.org,O=Sponsor"


def test_callers_are_known_by_their_certificate(mtls: RunningServer, certificates: Certificates) -> None:
    with client_for(mtls, certificates.ca.pem, certificates.stats) as stats, \
            client_for(mtls, certificates.ca.pem, certificates.edc) as edc:
        trial = create(stats).trial
        assert trial.created_by == certificates.stats.subject
        with pytest.raises(ServiceError) as caught:
            record(stats, trial, 1, cohort("m", [False]))
        assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED

        recorded = record(edc, trial, 1, cohort("m", [False, False, False]))
        assert recorded.trial.version == 2
        with pytest.raises(ServiceError) as caught:
            create(edc)
        assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
        history = edc.call(edc.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
    assert [e.author for e in history.events] == [certificates.stats.subject, certificates.edc.subject]
    assert mtls.audit.record(recorded.audit.sequence).entry.principal == certificates.edc.subject


def test_an_unconfigured_certificate_is_unauthenticated(mtls: RunningServer, certificates: Certificates) -> None:
    with client_for(mtls, certificates.ca.pem, certificates.stranger) as stranger, \
            pytest.raises(ServiceError) as caught:
        stranger.call(stranger.trials.ListTrials, tpb.ListTrialsRequest())
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert certificates.stranger.subject in caught.value.message


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate", "plaintext"])
def test_a_client_without_a_trusted_certificate_cannot_connect(mtls: RunningServer, certificates: Certificates,
                                                              who: str) -> None:
    if who == "plaintext":
        client = DoseFindingClient(f"127.0.0.1:{mtls.port}", timeout=10.0, retries=0)
    else:
        client = client_for(mtls, certificates.ca.pem, None if who == "no certificate" else certificates.impostor)
    with client, pytest.raises(ServiceError) as caught:
        client.call(client.trials.ListTrials, tpb.ListTrialsRequest())
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_tokens_over_server_only_tls(certificates: Certificates, tmp_path: Path) -> None:
    """TLS without client certificates: callers present tokens; no certificate subject is assumed."""
    admin = Caller("ops", "token-ops-0123456789", frozenset({Role.ADMIN}))
    config = Config(listen="127.0.0.1:0", data_dir=str(tmp_path / "data"),
                    tls_cert=write_pem(tmp_path, "server.pem", certificates.server.certificate),
                    tls_key=write_pem(tmp_path, "server.key", certificates.server.key),
                    identities=token_identities([admin]))
    with running(config) as server:
        credentials = grpc.ssl_channel_credentials(root_certificates=certificates.ca.pem)
        with DoseFindingClient(f"127.0.0.1:{server.port}", credentials=credentials, retries=0,
                               metadata=admin.metadata) as client:
            assert create(client).trial.created_by == "ops"
        with DoseFindingClient(f"127.0.0.1:{server.port}", credentials=credentials, retries=0) as anonymous, \
                pytest.raises(ServiceError) as caught:
            create(anonymous)
        assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_a_loopback_probe_port_answers_health_but_nothing_else_without_credentials(
        certificates: Certificates, tmp_path: Path) -> None:
    config = Config(
        listen="127.0.0.1:0", data_dir=str(tmp_path / "data"), probe_listen="127.0.0.1:0",
        tls_cert=write_pem(tmp_path, "server.pem", certificates.server.certificate),
        tls_key=write_pem(tmp_path, "server.key", certificates.server.key),
        client_ca=write_pem(tmp_path, "ca.pem", certificates.ca.pem),
    )
    with running(config) as server, grpc.insecure_channel(f"127.0.0.1:{server.probe_port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with DoseFindingClient(f"127.0.0.1:{server.probe_port}", retries=0) as plain:
            with pytest.raises(ServiceError) as refused:
                evaluate(plain, LIFECYCLE, "1NNN")
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
