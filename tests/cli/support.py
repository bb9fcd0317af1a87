"""Helpers of the command-line tests."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from dosefinding_server.api.server import RunningServer
from dosefinding_server.audit.signing import load_private_key


def backup(server: RunningServer, target: Path) -> Path:
    """An online backup of the running server's store, and its public key exported beside it."""
    target.mkdir()
    server.database.backup(target / "dosefinding.sqlite3")
    key = load_private_key(server.data_dir / "audit-signing-key.pem").public_key()
    public = target / "audit.pub"
    public.write_bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public
