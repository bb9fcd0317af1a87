"""TLS files that cannot serve, and addresses that cannot be bound, are refused by setting.

gRPC itself says only "Failed to bind", naming neither the file nor what is wrong with it, and only after the
data directory has been opened (and, on a first start, a signing key made)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dosefinding_server.config import Config
from dosefinding_server.main import serve

from .support import TestAuthority, write_pem

CA = TestAuthority()
SERVER = CA.issue("localhost", "Dose Finding Service", server=True)
OTHER = CA.issue("other.example.org", "Sponsor", server=True)


def _encrypted(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"secret"))


@pytest.mark.parametrize("files, refusal", [
    ({"cert": b"not a certificate", "key": SERVER.key}, "tls_cert {cert}: not PEM certificates"),
    ({"cert": SERVER.certificate, "key": b"not a key"}, "tls_key {key}: not an unencrypted PEM private key"),
    ({"cert": SERVER.certificate, "key": _encrypted(SERVER.key)}, "tls_key {key}: not an unencrypted PEM private key"),
    ({"cert": SERVER.certificate, "key": OTHER.key},
     "tls_key {key} is not the key of the first certificate in tls_cert {cert}"),
    ({"cert": SERVER.certificate, "key": SERVER.key, "ca": b"no CA"}, "client_ca {ca}: not PEM certificates"),
    ({"cert": SERVER.certificate, "key": SERVER.key, "ca": None}, "client_ca {ca}: No such file or directory"),
], ids=["cert-not-pem", "key-not-pem", "key-encrypted", "key-of-another-cert", "ca-not-pem", "ca-missing"])
def test_a_tls_file_that_cannot_serve_is_refused_by_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            files: dict[str, bytes | None], refusal: str) -> None:
    paths = {name: str(tmp_path / f"{name}.pem") if data is None else write_pem(tmp_path, f"{name}.pem", data)
             for name, data in files.items()}
    config = Config(listen="127.0.0.1:0", data_dir=str(tmp_path / "data"), tls_cert=paths["cert"],
                    tls_key=paths["key"], client_ca=paths.get("ca"))
    assert serve(config, None) == 2
    assert capsys.readouterr().err == f"dosefinding-server: {refusal.format(**paths)}\n"
    assert not (tmp_path / "data").exists(), "the data directory is not touched"


@pytest.mark.parametrize("setting", ["listen", "probe_listen"])
def test_an_address_in_use_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        addresses = {"listen": "127.0.0.1:0", setting: address}
        config = Config(data_dir=str(tmp_path / "data"), insecure=True, **addresses)
        assert serve(config, None) == 1
    assert capsys.readouterr().err == (f"dosefinding-server: cannot listen on {address}: the port is in use, "
                                       "or the host is not this machine's\n")
