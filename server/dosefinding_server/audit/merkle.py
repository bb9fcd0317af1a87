"""RFC 9162 (Certificate Transparency version 2.0) Merkle tree hashing and proofs.

The audit log's records are the leaves of one append-only Merkle tree. A
signed tree head (checkpoint) then commits to every record before it; an
inclusion proof shows one record is in it and a consistency proof shows a
later tree extends an earlier one, each in O(log n) hashes, so anyone holding
an old checkpoint can check that nothing was changed or dropped afterwards.

* §2.1.1: ``MTH({}) = SHA-256()``, leaf ``SHA-256(0x00 || d)``, node
  ``SHA-256(0x01 || left || right)``, with the left subtree over the largest
  power of two smaller than ``n`` leaves. The distinct prefixes keep a leaf
  from posing as an inner node (second preimages).
* §2.1.3.1 / §2.1.3.2: inclusion proofs and their verification.
* §2.1.4.1 / §2.1.4.2: consistency proofs and their verification.

The tree is not held in memory. Appends go through a :class:`Frontier` (a
compact range: the roots of the perfect subtrees that cover ``[0, n)``, one
per set bit of ``n``), so appending is O(log n) and yields the perfect
subtree hashes it completes; a store keeps those, and proofs are built from
any :data:`NodeSource` that can return a perfect subtree's hash.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeSource = Callable[[int, int], bytes]
"""``source(level, index)``: the hash of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is a leaf hash."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size >= 2``), RFC 9162 §2.1.1's ``k``."""
    return 1 << ((size - 1).bit_length() - 1)


@dataclass(frozen=True)
class Node:
    """A perfect subtree's hash, completed by an append; see :data:`NodeSource` for its position."""

    level: int
    index: int
    hash: bytes


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the perfect subtrees covering ``[0, size)``, left to right."""
    positions = []
    start = 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


@dataclass(frozen=True)
class Frontier:
    """The compact range ``[0, size)``: one hash per set bit of ``size``, largest subtree first.

    Immutable, so a snapshot for rolling back is just a reference.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    @classmethod
    def load(cls, size: int, source: NodeSource) -> Frontier:
        """The frontier of a stored tree of ``size`` leaves, in O(log n) look-ups."""
        return cls(size, tuple(source(level, index) for level, index in frontier_positions(size)))

    def append(self, leaf: bytes) -> tuple[Frontier, tuple[Node, ...]]:
        """The frontier with ``leaf`` (a leaf hash) appended, and the level >= 1 nodes it completed."""
        hashes = list(self.hashes)
        carry = leaf
        completed = []
        level = 0
        while self.size >> level & 1:
            carry = node_hash(hashes.pop(), carry)
            level += 1
            completed.append(Node(level, ((self.size + 1) >> level) - 1, carry))
        hashes.append(carry)
        return Frontier(self.size + 1, tuple(hashes)), tuple(completed)

    def root(self) -> bytes:
        """MTH of the ``size`` leaves (RFC 9162 §2.1.1), folding the subtrees right to left."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def subtree_hash(source: NodeSource, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)``, a range whose ``start`` is a multiple of its split ``k``.

    Every range that §2.1.3.1 and §2.1.4.1 recurse into is of that form, so
    it is a perfect subtree or splits into one plus a smaller such range.
    """
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return source(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(source, start, start + k), subtree_hash(source, start + k, end))


def inclusion_path(source: NodeSource, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1): the audit path of leaf ``index``, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
    path = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_hash(source, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(source, start, start + k))
            start += k
    return path[::-1]


def consistency_path(source: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` (RFC 9162 §2.1.4.1), the ``SUBPROOF`` recursion unrolled."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    path = []
    start, end = 0, new_size
    whole = True  # SUBPROOF's b: the old tree is still D[0:old_size] itself
    while old_size != end:
        k = _split(end - start)
        if old_size - start <= k:
            path.append(subtree_hash(source, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(source, start, start + k))
            start += k
            whole = False
    if not whole:
        path.append(subtree_hash(source, start, end))
    return path[::-1]


def _hashes_well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both until ``LSB(fn)`` is set or ``fn`` is 0 (§2.1.3.2 and §2.1.4.2 step ii)."""
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` proves ``leaf`` to be under (RFC 9162 §2.1.3.2), or None if malformed."""
    if not 0 <= index < size or not _hashes_well_formed(leaf, *path):
        return None
    fn, sn = index, size - 1
    root = leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            root = node_hash(sibling, root)
            fn, sn = _shift_while_even(fn, sn)
        else:
            root = node_hash(root, sibling)
        fn >>= 1
        sn >>= 1
    return root if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` is leaf ``index`` of the tree with ``root`` (§2.1.3.2)."""
    computed = root_from_inclusion_path(index, size, leaf, path)
    return computed is not None and _hashes_well_formed(root) and hmac.compare_digest(computed, root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """Whether ``path`` proves the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Equal sizes need an
    empty proof and equal roots; an empty old tree (root ``MTH({})``) is a
    prefix of every tree. A shrinking tree is never consistent.
    """
    if not _hashes_well_formed(old_root, new_root, *path) or not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not path and hmac.compare_digest(old_root, EMPTY_ROOT)
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(sibling, first)
            second = node_hash(sibling, second)
            fn, sn = _shift_while_even(fn, sn)
        else:
            second = node_hash(second, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(first, old_root) and hmac.compare_digest(second, new_root)
