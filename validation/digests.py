"""SHA-256 digests of files and bytes, the one fingerprint every part of the validation uses.

Installation qualification records them (21 CFR Part 11 §11.10(a): the
validated system is identified exactly), and the signed report binds them
(§11.70: a signature that cannot be moved to other records).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path, algorithm: str = "sha256") -> bytes:
    """The raw digest of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).digest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return file_digest(path).hex()
