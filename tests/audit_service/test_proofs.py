"""Checkpoints, inclusion and consistency proofs fetched over gRPC, checked with the client's own RFC 9162 code."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding_client import DoseFindingClient, ServiceError

from .conftest import Workload
from .rfc9162 import checkpoint_holds, consistency_holds, inclusion_holds, key_fingerprint, public_key, tree_hash
from .support import export_jsonl


def flipped(data: bytes, bit: int) -> bytes:
    """``data`` with bit ``bit`` (0 = the lowest bit of the first byte) inverted."""
    index, shift = divmod(bit, 8)
    return data[:index] + bytes([data[index] ^ (1 << shift)]) + data[index + 1:]


@pytest.fixture(scope="module")
def leaves(auditor: DoseFindingClient, workload: Workload) -> list[bytes]:
    """The leaf hashes of the workload's records, from the export, after checking they form the hash chain."""
    records = export_jsonl(auditor)[:workload.size]
    assert [r["seq"] for r in records] == list(range(1, workload.size + 1))
    previous = "00" * 32
    for record in records:
        assert record["prev_hash"] == previous, f"record {record['seq']} breaks the hash chain"
        previous = record["leaf_hash"]
    return [bytes.fromhex(r["leaf_hash"]) for r in records]


def inclusion(auditor: DoseFindingClient, seq: int, tree_size: int = 0) -> apb.GetInclusionProofResponse:
    return auditor.call(auditor.audit.GetInclusionProof, apb.GetInclusionProofRequest(sequence=seq,
                                                                                      tree_size=tree_size))


def consistency(auditor: DoseFindingClient, old: int, new: int) -> apb.GetConsistencyProofResponse:
    return auditor.call(auditor.audit.GetConsistencyProof, apb.GetConsistencyProofRequest(old_size=old,
                                                                                          new_size=new))


def test_every_checkpoint_is_signed_by_the_served_key_over_the_records_root(workload, leaves):
    key = public_key(workload.public_key_pem)
    sizes = [c.tree_size for c in workload.checkpoints]
    assert sizes == sorted(set(sizes)) and sizes[0] == 1 and len(sizes) >= 5
    for checkpoint in workload.checkpoints:
        assert checkpoint.key_id == key_fingerprint(key)
        assert checkpoint_holds(checkpoint, key), f"checkpoint at {checkpoint.tree_size} does not verify"
        assert checkpoint.root_hash == tree_hash(leaves[:checkpoint.tree_size])


def test_a_checkpoint_with_any_bit_flipped_fails_its_signature(workload):
    key = public_key(workload.public_key_pem)
    checkpoint = workload.checkpoints[-1]
    for field in ("signature", "signed_payload"):
        value = getattr(checkpoint, field)
        for bit in range(len(value) * 8):
            altered = type(checkpoint)()
            altered.CopyFrom(checkpoint)
            setattr(altered, field, flipped(value, bit))
            assert not checkpoint_holds(altered, key), f"{field} bit {bit}"
    for other in ("tree_size", "root_hash"):
        altered = type(checkpoint)()
        altered.CopyFrom(checkpoint)
        if other == "tree_size":
            altered.tree_size += 1
        else:
            altered.root_hash = flipped(checkpoint.root_hash, 0)
        assert not checkpoint_holds(altered, key), f"a checkpoint whose {other} disagrees with its payload"


def test_every_record_is_proven_in_the_served_root_and_in_every_signed_checkpoint_after_it(
        auditor, workload, leaves):
    size = workload.size
    for seq in range(1, size + 1):
        proof = inclusion(auditor, seq, size)
        assert (proof.sequence, proof.tree_size, proof.leaf_hash) == (seq, size, leaves[seq - 1])
        assert proof.root_hash == tree_hash(leaves)
        assert inclusion_holds(seq - 1, size, proof.leaf_hash, proof.path, proof.root_hash)
        for checkpoint in workload.checkpoints:
            if checkpoint.tree_size >= seq:
                signed = inclusion(auditor, seq, checkpoint.tree_size)
                assert signed.root_hash == checkpoint.root_hash
                assert inclusion_holds(seq - 1, checkpoint.tree_size, signed.leaf_hash, signed.path,
                                       checkpoint.root_hash), f"record {seq} under checkpoint {checkpoint.tree_size}"
                assert not inclusion_holds(seq - 1, checkpoint.tree_size, signed.leaf_hash, signed.path,
                                           tree_hash(leaves[:checkpoint.tree_size - 1] or [b"\0" * 32]))


def test_the_default_tree_is_the_latest_checkpoints(auditor):
    latest = auditor.call(auditor.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest())
    proof = inclusion(auditor, 1)
    assert proof.tree_size == latest.checkpoint.tree_size and proof.root_hash == latest.checkpoint.root_hash
    assert inclusion_holds(0, proof.tree_size, proof.leaf_hash, proof.path, latest.checkpoint.root_hash)


def test_any_bit_flip_in_a_served_inclusion_proof_fails(auditor, workload):
    size = workload.size
    for seq in range(1, size + 1):
        proof = inclusion(auditor, seq, size)
        path = list(proof.path)
        assert path, "a tree of more than one leaf gives every leaf a non-empty path"
        for position, sibling in enumerate(path):
            for bit in range(256):
                altered = path[:position] + [flipped(sibling, bit)] + path[position + 1:]
                assert not inclusion_holds(seq - 1, size, proof.leaf_hash, altered, proof.root_hash)
        for bit in range(256):
            assert not inclusion_holds(seq - 1, size, flipped(proof.leaf_hash, bit), path, proof.root_hash)
            assert not inclusion_holds(seq - 1, size, proof.leaf_hash, path, flipped(proof.root_hash, bit))
        assert not inclusion_holds(seq - 1, size, proof.leaf_hash, path[:-1], proof.root_hash)
        assert not inclusion_holds(seq % size, size, proof.leaf_hash, path, proof.root_hash)


def test_consistency_proofs_between_every_pair_of_sizes_verify(auditor, workload, leaves):
    roots = [b""] + [tree_hash(leaves[:n]) for n in range(1, workload.size + 1)]
    for new in range(1, workload.size + 1):
        for old in range(1, new + 1):
            proof = consistency(auditor, old, new)
            assert (proof.old_root, proof.new_root) == (roots[old], roots[new])
            assert consistency_holds(old, new, roots[old], roots[new], proof.proof), f"{old} -> {new}"
            if old < new:
                assert not consistency_holds(old, new, roots[old], roots[new - 1], proof.proof)
            path = list(proof.proof)
            for position, element in enumerate(path):  # every element matters (one bit each; all bits below)
                bit = (old * 31 + new * 7 + position) % 256
                altered = path[:position] + [flipped(element, bit)] + path[position + 1:]
                assert not consistency_holds(old, new, roots[old], roots[new], altered), (old, new, position)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_consistency_proof_between_sizes_m_le_n_verifies_and_no_bit_of_it_can_change(auditor, workload, data):
    new = data.draw(st.integers(1, workload.size), label="n")
    old = data.draw(st.integers(1, new), label="m")
    served = consistency(auditor, old, new)
    proof = list(served.proof)
    assert consistency_holds(old, new, served.old_root, served.new_root, proof)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, 255), label="bit")
        altered = proof[:position] + [flipped(proof[position], bit)] + proof[position + 1:]
        assert not consistency_holds(old, new, served.old_root, served.new_root, altered)
    bit = data.draw(st.integers(0, 255), label="root bit")
    assert not consistency_holds(old, new, flipped(served.old_root, bit), served.new_root, proof)
    assert not consistency_holds(old, new, served.old_root, flipped(served.new_root, bit), proof)


@pytest.mark.parametrize("request_fields, field", [
    ({"sequence": 0, "tree_size": 3}, "sequence"),
    ({"sequence": 4, "tree_size": 3}, "sequence"),
    ({"sequence": 1, "tree_size": 10**9}, "tree_size"),
])
def test_an_inclusion_proof_outside_the_log_is_refused(auditor, workload, request_fields, field):
    with pytest.raises(ServiceError) as refused:
        auditor.call(auditor.audit.GetInclusionProof, apb.GetInclusionProofRequest(**request_fields))
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.violations[0].field == field


@pytest.mark.parametrize("old, new, field", [(0, 3, "old_size"), (4, 3, "old_size"), (1, 10**9, "new_size")])
def test_a_consistency_proof_outside_the_log_is_refused(auditor, workload, old, new, field):
    with pytest.raises(ServiceError) as refused:
        consistency(auditor, old, new)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.violations[0].field == field
