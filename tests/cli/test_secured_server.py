"""The command against a secured server: TLS with the server's CA, mutual TLS with the caller's certificate, a
bearer token from a file or the environment (never sent in plaintext off this machine)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from dosefinding_client.cli import main
from dosefinding_server.api.server import RunningServer
from dosefinding_server.config import Config
from dosefinding_server.security.authentication import Identities
from dosefinding_server.security.principals import Role
from tests.support import EXAMPLES
from tests.trials.support import Caller, TestAuthority, running, token_identities, write_pem

CA = TestAuthority()
SERVER = CA.issue("localhost", "Dose Finding Service", server=True)
STATS = CA.issue("stats.example.org", "Sponsor")
OPS = Caller("ops", "token-ops-0123456789", frozenset({Role.ADMIN}))
CREATE = ["trial", "create", "--protocol", "TLS-1", "--design", str(EXAMPLES / "crm.json")]


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("pem")
    files = {"ca": CA.pem, "server.crt": SERVER.certificate, "server.key": SERVER.key,
             "stats.crt": STATS.certificate, "stats.key": STATS.key, "token": f"{OPS.token}\n".encode()}
    return {name: write_pem(directory, name, data) for name, data in files.items()}


def _serve(pem: dict[str, str], directory: Path, **settings: object) -> Config:
    return Config(listen="127.0.0.1:0", data_dir=str(directory / "data"), tls_cert=pem["server.crt"],
                  tls_key=pem["server.key"], **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mutual(pem: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Mutual TLS: callers are known by their certificate."""
    with running(_serve(pem, tmp_path_factory.mktemp("mutual"), client_ca=pem["ca"],
                        identities=Identities(subjects={STATS.subject: frozenset({Role.STATISTICIAN})}))) as server:
        yield server


@pytest.fixture(scope="module")
def secured(pem: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """TLS without client certificates: callers present tokens."""
    with running(_serve(pem, tmp_path_factory.mktemp("secured"), identities=token_identities([OPS]))) as server:
        yield server


def command(server: RunningServer, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--server", f"127.0.0.1:{server.port}", "--timeout", "10", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_certificate_caller_over_mutual_tls(mutual, pem, capsys) -> None:
    code, out, err = command(mutual, capsys, "--ca", pem["ca"], "--cert", pem["stats.crt"], "--key",
                             pem["stats.key"], *CREATE)
    assert (code, err) == (0, "") and out.startswith("trial trial-")


def test_a_token_caller_from_a_file_or_the_environment(secured, pem, capsys, monkeypatch) -> None:
    code, out, _ = command(secured, capsys, "--ca", pem["ca"], "--token-file", pem["token"], *CREATE)
    assert code == 0
    trial_id = out.split()[1]
    monkeypatch.setenv("DOSEFINDING_TOKEN", OPS.token)
    code, out, _ = command(secured, capsys, "--ca", pem["ca"], "trial", "show", trial_id)
    assert code == 0 and "  ops  " in out, "the trial was created by the token's caller"


def test_without_credentials_the_call_is_refused(secured, pem, capsys) -> None:
    code, _, err = command(secured, capsys, "--ca", pem["ca"], *CREATE)
    assert code == 1 and err.startswith("dosefinding: UNAUTHENTICATED")
    code, _, err = command(secured, capsys, *CREATE)
    assert code == 1 and err.startswith("dosefinding: UNAVAILABLE"), "plaintext does not reach a TLS server"


@pytest.mark.parametrize("argv, refusal", [
    (["--cert", "stats.crt"], "mutual TLS needs --cert and --key together"),
    (["--ca", "missing.pem"], "CA file missing.pem: No such file or directory"),
    (["--token-file", "missing.txt"], "token file missing.txt: No such file or directory"),
], ids=["cert-without-key", "missing-ca", "missing-token-file"])
def test_connection_settings_that_cannot_work_are_refused_in_words(capsys, monkeypatch, tmp_path: Path, argv,
                                                                   refusal) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--server", "127.0.0.1:1", *argv, *CREATE]) == 2
    assert capsys.readouterr().err == f"dosefinding: {refusal}\n"


def test_a_token_is_never_sent_in_plaintext_off_this_machine(capsys, monkeypatch) -> None:
    monkeypatch.setenv("DOSEFINDING_TOKEN", OPS.token)
    assert main(["--server", "dosefinding.example.org:443", *CREATE]) == 2
    err = capsys.readouterr().err
    assert err == ("dosefinding: a bearer token is sent only over TLS (--tls or --ca) or to a loopback address, "
                   "not in plaintext to dosefinding.example.org:443\n") and OPS.token not in err
