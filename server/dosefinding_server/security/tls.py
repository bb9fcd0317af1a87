"""The server's TLS credentials, each file checked before the server starts.

gRPC reads the PEM files only when it binds the port, and then says no
more than "Failed to bind": a certificate that is not PEM, a key that is
encrypted or belongs to another certificate, and a client CA that is not a
certificate all end the same way.  Each is checked here with
``cryptography`` first and refused naming its setting and the problem,
before the data directory is touched.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ..config import Config, ConfigError


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{setting} {path}: {error.strerror or error}") from None


def _certificates(setting: str, path: str) -> tuple[bytes, list[x509.Certificate]]:
    pem = _read(setting, path)
    try:
        return pem, x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ConfigError(f"{setting} {path}: not PEM certificates") from None


def _public_der(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def server_credentials(config: Config) -> grpc.ServerCredentials | None:
    """``None`` in insecure mode; else the credentials of ``tls_cert``, ``tls_key`` and (mTLS) ``client_ca``."""
    if config.insecure:
        return None
    if not (config.tls_cert and config.tls_key):
        raise ConfigError("TLS needs tls_cert and tls_key (or --insecure on a loopback address)")
    chain, certificates = _certificates("tls_cert", config.tls_cert)
    key_pem = _read("tls_key", config.tls_key)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"tls_key {config.tls_key}: not an unencrypted PEM private key") from None
    if _public_der(key.public_key()) != _public_der(certificates[0].public_key()):
        raise ConfigError(f"tls_key {config.tls_key} is not the key of the first certificate in tls_cert "
                          f"{config.tls_cert}")
    client_ca = _certificates("client_ca", config.client_ca)[0] if config.client_ca else None
    return grpc.ssl_server_credentials([(key_pem, chain)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)
