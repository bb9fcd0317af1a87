"""What the service needs of the audit trail, wherever its writer runs: durable appends, and reads for review.

The writer is an :class:`~.log.AuditLog` in the serving process itself (one process), or a process of
its own that every serving process sends its appends to (``--workers``, see :mod:`.writer`). Reads go
to the store directly either way: records, checkpoints and tree nodes are committed only, never changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..storage import Reader, Storage
from .group_commit import Receipt, Writes
from .merkle import NodeSource, consistency_path, inclusion_path, subtree_hash, verify_inclusion
from .records import AuditEntry, AuditRecord
from .schema import SELECT_RECORDS, SELECT_SIZE, latest_checkpoint, node_source, record_from_row
from .signing import Checkpoint


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 §2.1.3 proof that record ``seq`` is in the tree of the first ``tree_size`` records."""

    seq: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root_hash: bytes) -> bool:
        """Whether the proof holds against ``root_hash`` (e.g. a signed checkpoint's root)."""
        return verify_inclusion(self.seq - 1, self.tree_size, self.leaf_hash, self.path, root_hash)


class AuditTrail(ABC):
    """The audit log as the service uses it, over the store it lives in."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    @property
    @abstractmethod
    def public_key(self) -> Ed25519PublicKey:
        """The public half of the key that signs checkpoints now (a trust anchor for verification)."""

    @abstractmethod
    def append_durable(self, entry: AuditEntry, writes: Writes = ()) -> Receipt:
        """Append ``entry`` after inserting ``writes``, in one transaction; returns once it is durable."""

    @abstractmethod
    def close(self) -> None:
        """Refuse further appends once those under way are durable."""

    @property
    def storage(self) -> Storage:
        """The store the log lives in, for read-only review (verification, export)."""
        return self._storage

    @property
    def size(self) -> int:
        """Records committed so far, by any writer."""
        return int(self._storage.query(SELECT_SIZE)[0][0])

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint with the largest tree size (None only before the log's first commit)."""
        with self._storage.reader() as reader:
            return latest_checkpoint(reader)

    def record(self, seq: int) -> AuditRecord:
        """The committed record ``seq``; KeyError if there is none."""
        rows = self._storage.query(f"{SELECT_RECORDS} WHERE seq = ?", (seq,))
        if not rows:
            raise KeyError(f"no audit record {seq}")
        return record_from_row(rows[0])

    @staticmethod
    def _committed_source(reader: Reader, tree_size: int) -> NodeSource:
        """The store's nodes, once ``tree_size`` is known to be committed."""
        size = reader.execute(SELECT_SIZE).fetchone()[0]
        if tree_size > size:
            raise ValueError(f"tree size {tree_size} exceeds the {size} committed records")
        return node_source(reader)

    def root_hash(self, tree_size: int) -> bytes:
        """MTH of the first ``tree_size`` committed records, in O(log n) reads."""
        if tree_size < 1:
            raise ValueError("tree_size must be at least 1")
        with self._storage.reader() as reader:
            return subtree_hash(self._committed_source(reader, tree_size), 0, tree_size)

    def inclusion_proof(self, seq: int, tree_size: int) -> InclusionProof:
        """Proof that record ``seq`` is in the tree of the first ``tree_size`` records (RFC 9162 §2.1.3.1)."""
        if not 1 <= seq <= tree_size:
            raise ValueError(f"record {seq} is not within a tree of {tree_size} records")
        with self._storage.reader() as reader:
            source = self._committed_source(reader, tree_size)
            return InclusionProof(seq, tree_size, source(0, seq - 1),
                                  tuple(inclusion_path(source, seq - 1, tree_size)))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Proof that the first ``new_size`` records extend the first ``old_size`` (RFC 9162 §2.1.4.1)."""
        with self._storage.reader() as reader:
            return consistency_path(self._committed_source(reader, new_size), old_size, new_size)
