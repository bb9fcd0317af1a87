"""The Ed25519 key pair with which a person signs a validation report.

``python -m validation keygen --out KEYDIR`` writes ``signing.key`` (PKCS#8
PEM, mode 0600) and ``signing.pub`` (SubjectPublicKeyInfo PEM), over neither
an existing key nor an existing public key, and prints the fingerprint: the
SHA-256 of the raw 32-byte public key, in hex, which is also the key id in
the signature envelope.  The signer gives the fingerprint to QA through a separate
channel; reviewers check signatures against the public key whose
fingerprint that is.

The private key is the signer's alone (21 CFR Part 11 §11.100: a signature
is unique to one person and not reused by anyone else).  When the
environment variable :data:`PASSPHRASE_ENV` is set, the key is written
encrypted with it and must be given it to sign, so that a signature needs
both the key file and the passphrase (§11.200(a)(1): two distinct
identification components).  File handling is the audit trail's
(:mod:`dosefinding_server.audit.signing`): a private key readable by group
or others is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dosefinding_server.audit.signing import (
    generate_private_key, key_id, load_private_key, load_public_key, save_key_pair,
)

PRIVATE_KEY_FILE = "signing.key"
PUBLIC_KEY_FILE = "signing.pub"
PASSPHRASE_ENV = "VALIDATION_KEY_PASSPHRASE"

__all__ = ["fingerprint", "keygen", "load_public_key", "load_signing_key"]


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, lowercase hex: the key id."""
    return key_id(public_key)


def keygen(out_dir: Path) -> str:
    """Write a new key pair into ``out_dir``; return the public key's fingerprint."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    save_key_pair(key, out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE, _passphrase())
    return fingerprint(key.public_key())


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The signer's private key (decrypted with :data:`PASSPHRASE_ENV` when set)."""
    return load_private_key(path, _passphrase())
