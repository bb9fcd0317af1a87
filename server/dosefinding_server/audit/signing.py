"""Ed25519 keys and signed checkpoints (signed tree heads) of the audit log.

A checkpoint says "the log's first ``tree_size`` records have Merkle root
``root_hash``" and is signed by the log's key, so a copy handed to a monitor
or a regulator later proves what the log held at that time. This is the
system's seal on its own records, not a person's electronic signature in the
sense of 21 CFR Part 11 §11.50.

The signed bytes of a checkpoint are ASCII lines, each ending in ``\\n``::

    dosefinding-audit-checkpoint v1
    tree_size <decimal, no leading zeros>
    root_hash <64 lowercase hex digits>
    signed_at <YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC>
    key_id <64 lowercase hex digits>

The first line separates these from any other message signed with the key.
A key id is the SHA-256 of the 32-byte raw Ed25519 public key, in hex.
A new key is endorsed by the key it replaces, which signs::

    dosefinding-audit-key-endorsement v1
    key_id <new key id>
    previous_key_id <endorsing key id>

Private keys never appear in logs, errors or exports; only key ids do.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .canonical import parse_utc_timestamp
from .errors import KeyFileError
from .merkle import HASH_SIZE

_CHECKPOINT_HEADER = "dosefinding-audit-checkpoint v1"
_ENDORSEMENT_HEADER = "dosefinding-audit-key-endorsement v1"
_HEX = re.compile(r"(?:[0-9a-f]{2})*")  # lowercase, whole bytes: the form to_json writes


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32-byte raw encoding (RFC 8032 §5.1.5)."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 fingerprint of the raw public key, lowercase hex."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def save_private_key(private_key: Ed25519PrivateKey, path: str | Path, passphrase: bytes | None = None) -> None:
    """PKCS#8 PEM, created with mode 0600 and never over an existing file (a key is not replaced by accident)."""
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key file") from None
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The Ed25519 key in a PEM file that only its owner can read (as ssh insists)."""
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is accessible to group or others (mode {stat.S_IMODE(mode):04o}); "
                               "chmod 600 it")
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=passphrase)
    except (OSError, ValueError, TypeError) as err:
        raise KeyFileError(f"cannot load the private key in {path}: {type(err).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} does not hold an Ed25519 private key")
    return key


def save_public_key(public_key: Ed25519PublicKey, path: str | Path) -> None:
    Path(path).write_bytes(public_key.public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))


def save_key_pair(private_key: Ed25519PrivateKey, private_path: Path, public_path: Path,
                  passphrase: bytes | None = None) -> None:
    """A new key pair's two files; neither may exist already, so that a public key somebody has pinned is never
    replaced by one whose private half they do not know."""
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key file")
    save_private_key(private_key, private_path, passphrase)
    save_public_key(private_key.public_key(), public_path)


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as err:
        raise KeyFileError(f"cannot load the public key in {path}: {type(err).__name__}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} does not hold an Ed25519 public key")
    return key


def _verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log's first ``tree_size`` records have Merkle root ``root_hash``."""

    tree_size: int
    root_hash: bytes
    signed_at: str
    key_id: str
    signature: bytes

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers (see the module's documentation)."""
        return checkpoint_body(self.tree_size, self.root_hash, self.signed_at, self.key_id)

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        return key_id(public_key) == self.key_id and _verifies(public_key, self.signature, self.signed_bytes())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, for handing a trusted checkpoint to someone outside the server."""
        return {"tree_size": self.tree_size, "root_hash": self.root_hash.hex(), "signed_at": self.signed_at,
                "key_id": self.key_id, "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """The form :meth:`to_json` writes; anything else is a ``ValueError`` naming the field (a kept checkpoint
        is read to detect tampering, so nothing in it is converted by guess)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, not {data!r}")
        for name, kind, fits in _JSON_FORM:
            if name not in data:
                raise ValueError(f"{name}: missing")
            if not fits(data[name]):
                raise ValueError(f"{name}: {data[name]!r} is not {kind}")
        return cls(data["tree_size"], bytes.fromhex(data["root_hash"]), data["signed_at"], data["key_id"],
                   bytes.fromhex(data["signature"]))


def _is_utc_timestamp(value: Any) -> bool:
    try:
        parse_utc_timestamp(value)
    except (ValueError, TypeError):
        return False
    return True


#: Each field of :meth:`Checkpoint.to_json`'s form, what it must be, and the test of it.
_JSON_FORM: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("tree_size", "an integer", lambda value: isinstance(value, int) and not isinstance(value, bool)),
    ("root_hash", "hexadecimal", lambda value: isinstance(value, str) and _HEX.fullmatch(value) is not None),
    ("signed_at", "a canonical UTC timestamp", _is_utc_timestamp),
    ("key_id", "text", lambda value: isinstance(value, str)),
    ("signature", "hexadecimal", lambda value: isinstance(value, str) and _HEX.fullmatch(value) is not None),
)


def checkpoint_body(tree_size: int, root_hash: bytes, signed_at: str, key_id: str) -> bytes:
    if tree_size < 0 or len(root_hash) != HASH_SIZE:
        raise ValueError("a checkpoint needs a tree size >= 0 and a 32-byte root hash")
    return (f"{_CHECKPOINT_HEADER}\ntree_size {tree_size}\nroot_hash {root_hash.hex()}\n"
            f"signed_at {signed_at}\nkey_id {key_id}\n").encode("ascii")


def sign_checkpoint(private_key: Ed25519PrivateKey, tree_size: int, root_hash: bytes,
                    signed_at: str) -> Checkpoint:
    signer = key_id(private_key.public_key())
    body = checkpoint_body(tree_size, root_hash, signed_at, signer)
    return Checkpoint(tree_size, root_hash, signed_at, signer, private_key.sign(body))


def _endorsement_body(new_key_id: str, previous_key_id: str) -> bytes:
    return f"{_ENDORSEMENT_HEADER}\nkey_id {new_key_id}\nprevious_key_id {previous_key_id}\n".encode("ascii")


def endorse(previous_key: Ed25519PrivateKey, new_key: Ed25519PublicKey) -> bytes:
    """``previous_key``'s signature vouching for ``new_key`` as its successor."""
    return previous_key.sign(_endorsement_body(key_id(new_key), key_id(previous_key.public_key())))


def endorsement_valid(previous_key: Ed25519PublicKey, new_key_id: str, signature: bytes) -> bool:
    return _verifies(previous_key, signature, _endorsement_body(new_key_id, key_id(previous_key)))
