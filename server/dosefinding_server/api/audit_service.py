"""``dosefinding.v1.AuditService``: checkpoints, proofs, verification, export, replay (auditor role)."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Iterable, Iterator

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dosefinding.v1 import audit_pb2
from dosefinding.v1 import audit_service_pb2 as pb
from dosefinding.v1 import audit_service_pb2_grpc as pb_grpc
from dosefinding_server.audit import export
from dosefinding_server.audit.canonical import parse_utc_timestamp, utc_timestamp
from dosefinding_server.audit.trail import AuditTrail
from dosefinding_server.audit.signing import Checkpoint
from dosefinding_server.audit.verify import VerificationReport, verify_log
from dosefinding_server.engine.errors import InputError
from dosefinding_server.version import ENGINE_VERSION

from . import payloads
from .replay import Replayer

def checkpoint_message(checkpoint: Checkpoint) -> audit_pb2.Checkpoint:
    message = audit_pb2.Checkpoint(tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash,
                                   key_id=checkpoint.key_id, signature=checkpoint.signature,
                                   signed_payload=checkpoint.signed_bytes())
    message.signed_at.FromDatetime(parse_utc_timestamp(checkpoint.signed_at))
    return message


def checkpoint_from_message(message: audit_pb2.Checkpoint) -> Checkpoint:
    """The checkpoint a caller sent; ``signed_at`` in the signed (always 6-digit) form, which
    ``Timestamp.ToJsonString`` would shorten to 0, 3 or 9 digits for some instants."""
    return Checkpoint(message.tree_size, message.root_hash,
                      utc_timestamp(message.signed_at.ToDatetime(tzinfo=timezone.utc)), message.key_id,
                      message.signature)


def verification_message(report: VerificationReport) -> pb.VerifyLogResponse:
    """A verification's outcome as the API answers it (the same whether the server or a copy was verified)."""
    response = pb.VerifyLogResponse(ok=report.ok, records=report.records, checkpoints=report.checkpoints,
                                    signed_records=report.signed_records, root_hash=report.root_hash,
                                    problem=report.problem or "")
    if report.first_bad_seq is not None:
        response.first_bad_sequence = report.first_bad_seq
    return response


class AuditService(pb_grpc.AuditServiceServicer):
    """Read-only review of the audit log."""

    def __init__(self, audit: AuditTrail, replayer: Replayer, public_keys: Iterable[Ed25519PublicKey] = ()) -> None:
        self.audit = audit
        self.replayer = replayer
        #: Trusted outright besides the active key: retired keys, so a rotated log still verifies from its first key.
        self.public_keys = tuple(public_keys)

    def GetLatestCheckpoint(self, request: pb.GetLatestCheckpointRequest, context: grpc.ServicerContext
                            ) -> pb.GetLatestCheckpointResponse:
        public = self.audit.public_key.public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        response = pb.GetLatestCheckpointResponse(public_key_pem=public.decode(), size=self.audit.size)
        latest = self.audit.latest_checkpoint()
        if latest is not None:
            response.checkpoint.CopyFrom(checkpoint_message(latest))
        return response

    def _tree_size(self, requested: int, field: str) -> int:
        """The tree size asked for in ``field``, or the latest checkpoint's when it is 0."""
        latest = self.audit.latest_checkpoint()
        size = requested or (latest.tree_size if latest else 0)
        if not 1 <= size <= self.audit.size:
            raise InputError(field, f"{size} is outside 1..{self.audit.size}")
        return size

    def GetInclusionProof(self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
                          ) -> pb.GetInclusionProofResponse:
        size = self._tree_size(request.tree_size, "tree_size")
        if not 1 <= request.sequence <= size:
            raise InputError("sequence", f"{request.sequence} is outside 1..{size}")
        proof = self.audit.inclusion_proof(request.sequence, size)
        return pb.GetInclusionProofResponse(sequence=proof.seq, tree_size=proof.tree_size,
                                            leaf_hash=proof.leaf_hash, path=list(proof.path),
                                            root_hash=self.audit.root_hash(size))

    def GetConsistencyProof(self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
                            ) -> pb.GetConsistencyProofResponse:
        new_size = self._tree_size(request.new_size, "new_size")
        if not 1 <= request.old_size <= new_size:
            raise InputError("old_size", f"{request.old_size} is outside 1..{new_size}")
        return pb.GetConsistencyProofResponse(
            proof=self.audit.consistency_proof(request.old_size, new_size),
            old_root=self.audit.root_hash(request.old_size), new_root=self.audit.root_hash(new_size))

    def VerifyLog(self, request: pb.VerifyLogRequest, context: grpc.ServicerContext) -> pb.VerifyLogResponse:
        trusted = (checkpoint_from_message(request.trusted_checkpoint) if request.HasField("trusted_checkpoint")
                   else None)
        return verification_message(verify_log(self.audit.storage, trusted,
                                                public_keys=[self.audit.public_key, *self.public_keys]))

    def _known_trial(self, trial_id: str, context: grpc.ServicerContext) -> None:
        """``NOT_FOUND`` for a trial id (when one is given) that no record of the log names: a mistyped id."""
        if trial_id and not export.names_trial(self.audit.storage, trial_id):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no audit record names trial {trial_id!r}")

    def ExportRecords(self, request: pb.ExportRecordsRequest, context: grpc.ServicerContext
                      ) -> Iterator[pb.ExportRecordsResponse]:
        start = request.start.ToDatetime() if request.HasField("start") else None
        end = request.end.ToDatetime() if request.HasField("end") else None
        if start is not None and end is not None and end <= start:
            raise InputError("end", f"{utc_timestamp(_utc(end))} is not after start {utc_timestamp(_utc(start))}: "
                                    "the window holds no time")
        self._known_trial(request.trial_id, context)
        records = export.select_records(self.audit.storage, trial_id=request.trial_id or None,
                                        start=_utc(start), end=_utc(end))
        writer = export.write_csv if request.format == pb.EXPORT_FORMAT_CSV else export.write_jsonl
        buffer = io.StringIO()
        count = writer(records, buffer, payloads.review)
        text = buffer.getvalue().encode("utf-8")
        step = 1 << 20
        for offset in range(0, max(len(text), 1), step):
            yield pb.ExportRecordsResponse(chunk=text[offset:offset + step], records=count)

    def ReplayDecisions(self, request: pb.ReplayDecisionsRequest, context: grpc.ServicerContext
                        ) -> pb.ReplayDecisionsResponse:
        last = request.last_sequence or self.audit.size
        first = request.first_sequence or 1
        if first > last:
            raise InputError("last_sequence", f"{last} is before first_sequence {first}")
        self._known_trial(request.trial_id, context)
        records = (self.audit.record(seq) for seq in range(first, min(last, self.audit.size) + 1))
        if request.trial_id:
            records = (r for r in records if r.entry.trial_id == request.trial_id)
        report = self.replayer.replay(records)
        response = pb.ReplayDecisionsResponse(replayed=report.replayed, skipped=report.skipped,
                                              engine_version=ENGINE_VERSION)
        for record, detail in report.differences:
            response.differences.add(sequence=record.seq, method=record.entry.method,
                                     logged_engine_version=record.entry.engine_version, detail=detail)
        return response


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None else None
