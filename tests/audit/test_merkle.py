"""RFC 9162 Merkle hashing and proofs: published test vectors and properties.

The vectors are the RFC 6962 / RFC 9162 ones used by Go's
transparency-dev/merkle (``rfc6962/rfc6962_test.go``, ``proof/verify_test.go``):
the eight leaves below, the roots of their first 1..8, and known proofs
(leaf numbers there are 1-based; here indices are 0-based).
"""

from __future__ import annotations

from typing import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding_server.audit.merkle import (EMPTY_ROOT, Frontier, NodeSource, consistency_path,
                                             frontier_positions, inclusion_path, leaf_hash, node_hash,
                                             root_from_inclusion_path, verify_consistency, verify_inclusion)

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
H = bytes.fromhex
INCLUSION_VECTORS = [  # (0-based leaf index, tree size, audit path)
    (0, 1, []),
    (0, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
CONSISTENCY_VECTORS = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")


def reference_root(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 defines it, recursively: the oracle."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


def memory_source(hashes: Sequence[bytes]) -> NodeSource:
    return lambda level, index: reference_root(hashes[index << level:(index + 1) << level])


LEAF_HASHES = [leaf_hash(leaf) for leaf in LEAVES]
SOURCE = memory_source(LEAF_HASHES)


def test_hasher_matches_rfc6962_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_frontier_roots_match_vectors_and_definition() -> None:
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for size, leaf in enumerate(LEAF_HASHES, start=1):
        frontier, _ = frontier.append(leaf)
        assert frontier.root() == ROOTS[size - 1] == reference_root(LEAF_HASHES[:size])


@pytest.mark.parametrize("index, size, path", INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, path: list[bytes]) -> None:
    assert inclusion_path(memory_source(LEAF_HASHES[:size]), index, size) == path
    assert verify_inclusion(index, size, LEAF_HASHES[index], path, ROOTS[size - 1])


@pytest.mark.parametrize("old, new, path", CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, path: list[bytes]) -> None:
    assert consistency_path(memory_source(LEAF_HASHES[:new]), old, new) == path
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], path)


def corrupted_inclusions(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes):
    """The probes of transparency-dev/merkle's corruptInclusionProof that must all fail."""
    yield index + 1, size, leaf, path, root
    yield index ^ 2, size, leaf, path, root
    yield index, size * 2, leaf, path, root
    yield index, size // 2, leaf, path, root
    yield index, size, b"WrongLeaf", path, root
    yield index, size, leaf, path, EMPTY_ROOT
    yield index, size, leaf, path, SOME_HASH
    yield index, size, leaf, path + [b""], root
    yield index, size, leaf, path + [root], root
    yield index, size, leaf, [b""] + path, root
    yield index, size, leaf, [root] + path, root
    for i in range(len(path)):
        yield index, size, leaf, path[:i] + [bytes([path[i][0] ^ 8]) + path[i][1:]] + path[i + 1:], root
    if path:
        yield index, size, leaf, path[:-1], root
    if len(path) > 1:
        yield index, size, leaf, [path[0], SOME_HASH] + path[1:], root


@pytest.mark.parametrize("index, size, path", INCLUSION_VECTORS[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, path: list[bytes]) -> None:
    for probe in corrupted_inclusions(index, size, LEAF_HASHES[index], path, ROOTS[size - 1]):
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize("old, new, path", CONSISTENCY_VECTORS[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, path: list[bytes]) -> None:
    root1, root2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, root1, root2, path), (old + 1, new, root1, root2, path), (old ^ 2, new, root1, root2, path),
        (old, new * 2, root1, root2, path), (old, new // 2, root1, root2, path),
        (old, new, SOME_HASH, root2, path), (old, new, root1, SOME_HASH, path), (old, new, root2, root1, path),
        (old, new, root1, root2, []), (old, new, root1, root2, path + [b""]),
        (old, new, root1, root2, path + [root1]), (old, new, root1, root2, path + [root2]),
        (old, new, root1, root2, [b""] + path), (old, new, root1, root2, [root1] + path),
        (old, new, root1, root2, [root2] + path), (old, new, root1, root2, [path[0]] + path),
        (old, new, root1, root2, path[:-1]),
    ]
    probes += [(old, new, root1, root2, path[:i] + [bytes([path[i][0] ^ 16]) + path[i][1:]] + path[i + 1:])
               for i in range(len(path))]
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_consistency_edge_cases() -> None:
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert not verify_consistency(0, 5, SOME_HASH, ROOTS[4], [])
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[2], [EMPTY_ROOT])
    assert not verify_consistency(5, 3, ROOTS[4], ROOTS[2], consistency_path(SOURCE, 3, 5)), "shrinking"
    with pytest.raises(ValueError):
        consistency_path(SOURCE, 5, 3)
    with pytest.raises(ValueError):
        inclusion_path(SOURCE, 8, 8)
    assert not verify_inclusion(0, 0, LEAF_HASHES[0], [], ROOTS[0])
    assert root_from_inclusion_path(0, 1, LEAF_HASHES[0], []) == ROOTS[0]


def flip_bit(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    return data[:bit // 8] + bytes([data[bit // 8] ^ (1 << bit % 8)]) + data[bit // 8 + 1:]


trees = st.lists(st.binary(max_size=8), min_size=1, max_size=70).map(lambda leaves: [leaf_hash(x) for x in leaves])


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_every_inclusion_proof_verifies_and_any_bit_flip_fails(hashes: list[bytes], data: st.DataObject) -> None:
    size, source = len(hashes), memory_source(hashes)
    root = reference_root(hashes)
    for index in range(size):
        assert verify_inclusion(index, size, hashes[index], inclusion_path(source, index, size), root)
    index = data.draw(st.integers(0, size - 1))
    path = inclusion_path(source, index, size)
    bit = data.draw(st.integers(0, 1 << 16))
    assert not verify_inclusion(index, size, flip_bit(hashes[index], bit), path, root)
    assert not verify_inclusion(index, size, hashes[index], path, flip_bit(root, bit))
    if path:
        which = data.draw(st.integers(0, len(path) - 1))
        tampered = path[:which] + [flip_bit(path[which], bit)] + path[which + 1:]
        assert not verify_inclusion(index, size, hashes[index], tampered, root)


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_every_consistency_proof_verifies_and_any_bit_flip_fails(hashes: list[bytes],
                                                                 data: st.DataObject) -> None:
    new, source = len(hashes), memory_source(hashes)
    roots = [reference_root(hashes[:size]) for size in range(new + 1)]
    for old in range(new + 1):
        assert verify_consistency(old, new, roots[old], roots[new], consistency_path(source, old, new))
    old = data.draw(st.integers(1, new))
    path = consistency_path(source, old, new)
    bit = data.draw(st.integers(0, 1 << 16))
    assert not verify_consistency(old, new, flip_bit(roots[old], bit), roots[new], path)
    assert not verify_consistency(old, new, roots[old], flip_bit(roots[new], bit), path)
    if path:
        which = data.draw(st.integers(0, len(path) - 1))
        tampered = path[:which] + [flip_bit(path[which], bit)] + path[which + 1:]
        assert not verify_consistency(old, new, roots[old], roots[new], tampered)


@settings(max_examples=100, deadline=None)
@given(trees)
def test_frontier_appends_emit_every_perfect_node_once_and_reload(hashes: list[bytes]) -> None:
    frontier, emitted = Frontier(), {}
    for leaf in hashes:
        frontier, nodes = frontier.append(leaf)
        for node in nodes:
            assert (node.level, node.index) not in emitted
            emitted[node.level, node.index] = node.hash
    size = len(hashes)
    assert frontier.root() == reference_root(hashes)
    assert len(emitted) == size - bin(size).count("1")
    for (level, index), digest in emitted.items():
        assert digest == reference_root(hashes[index << level:(index + 1) << level])
    assert Frontier.load(size, memory_source(hashes)) == frontier
    assert len(frontier_positions(size)) == bin(size).count("1")
