"""A client's own RFC 9162 checks, written from the RFC and not from the server's code.

An auditor verifies what the service hands out with code of their own: the
Merkle tree hash (§2.1.1), inclusion proofs (§2.1.3.2), consistency proofs
(§2.1.4.2) and checkpoint signatures. The tests use these, so a bug shared by
the server's proof generator and its own verifier cannot hide.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dosefinding.v1 import audit_pb2


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH (§2.1.1) of leaves given as their leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _node(tree_hash(leaves[:split]), tree_hash(leaves[split:]))


def inclusion_holds(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """§2.1.3.2: whether ``path`` proves leaf ``index`` (0-based) is in the tree of ``size`` leaves with ``root``."""
    if index >= size or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_holds(first: int, second: int, first_hash: bytes, second_hash: bytes,
                      path: Sequence[bytes]) -> bool:
    """§2.1.4.2: whether ``path`` proves the tree of ``second`` leaves extends the tree of ``first``.

    Equal sizes need an empty proof and equal roots (the RFC's algorithm
    covers only first < second).
    """
    if not 0 < first <= second or any(len(c) != 32 for c in path):
        return False
    if first == second:
        return not path and first_hash == second_hash
    if not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


def public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    return key


def key_fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def checkpoint_holds(checkpoint: audit_pb2.Checkpoint, key: Ed25519PublicKey) -> bool:
    """The signature covers ``signed_payload``, and the payload states this checkpoint's size, root and key."""
    try:
        key.verify(checkpoint.signature, checkpoint.signed_payload)
    except InvalidSignature:
        return False
    try:
        lines = checkpoint.signed_payload.decode("ascii").split("\n")
    except UnicodeDecodeError:
        return False
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    return (lines[0] == "dosefinding-audit-checkpoint v1"
            and fields.get("tree_size") == str(checkpoint.tree_size)
            and fields.get("root_hash") == checkpoint.root_hash.hex()
            and fields.get("key_id") == checkpoint.key_id == key_fingerprint(key))
