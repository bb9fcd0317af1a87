"""Audit commands for auditors: verify (offline on a copy of the store, or remotely), export, replay, checkpoint.

``audit verify --data-dir DIR`` reads the store directly and needs no server:
it exits 1 and names the first bad record on any failure.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from google.protobuf import json_format
from google.protobuf.message import Message

from dosefinding.v1 import audit_pb2
from dosefinding.v1 import audit_service_pb2 as pb

from ..client import DoseFindingClient
from ..files import CHECKPOINT_FILE, PUBLIC_KEY_FILE, parse_message, read_as, read_bytes, read_json

SIGNING_KEY_FILE = "audit-signing-key.pem"
TRUSTED_CHECKPOINT_FILE = "trusted-checkpoint.json"
ARCHIVED_KEYS_DIR = "audit-keys"  # public keys retired by dosefinding-server rotate-key


class Failed(Exception):
    """The command ran and found a problem (exit status 1); ``response`` is what it found, for ``--json``."""

    def __init__(self, message: str, response: Message) -> None:
        super().__init__(message)
        self.response = response


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="verify, export and replay the audit trail")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = sub.add_parser("verify", help="verify the whole log; offline with --data-dir")
    verify.add_argument("--data-dir", help="verify this store directly (a copy is fine); no server needed")
    verify.add_argument("--public-key", help="PEM public key to trust (default: the key in --data-dir)")
    verify.add_argument("--trusted-checkpoint",
                        help="a checkpoint kept outside the store: what 'audit checkpoint' printed, or a copy of a "
                             "data directory's trusted-checkpoint.json (default with --data-dir: the one in it)")
    verify.set_defaults(handler=verify_log, render=str, offline=lambda a: a.data_dir is not None)

    export = sub.add_parser("export", help="records of a trial or time window as JSON Lines or CSV")
    export.add_argument("--trial", help="only this trial's records")
    export.add_argument("--since", help="UTC time, ISO 8601 (inclusive)")
    export.add_argument("--until", help="UTC time, ISO 8601 (exclusive)")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="JSON Lines (default) or CSV")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.set_defaults(handler=export_records, render=str)

    replay = sub.add_parser("replay", help="re-derive every logged decision with the current engine")
    replay.add_argument("--trial", help="only this trial's records")
    replay.set_defaults(handler=replay_decisions, render=render_replay)

    checkpoint = sub.add_parser("checkpoint", help="the latest signed checkpoint (keep a copy outside the service)")
    checkpoint.set_defaults(handler=latest_checkpoint,
                            render=lambda r: json_format.MessageToJson(r, preserving_proto_field_name=True, indent=2))


def _utc(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 time") from None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _checkpoint_from_store_form(record: Any) -> audit_pb2.Checkpoint:
    """A data directory's ``trusted-checkpoint.json`` as a message, read by the server's own reader."""
    from dosefinding_server.api.audit_service import checkpoint_message
    from dosefinding_server.audit.signing import Checkpoint

    return checkpoint_message(Checkpoint.from_json(record))


def trusted_checkpoint(path: Path) -> audit_pb2.Checkpoint:
    """A checkpoint kept outside the service: what ``audit checkpoint`` printed (an object with ``checkpoint``,
    the proto's JSON mapping), or a copy of a data directory's ``trusted-checkpoint.json``."""
    record = read_json(path, CHECKPOINT_FILE)
    if isinstance(record, dict) and "checkpoint" in record:
        return parse_message(record, pb.GetLatestCheckpointResponse(), path, CHECKPOINT_FILE).checkpoint
    return read_as(lambda: _checkpoint_from_store_form(record), path, CHECKPOINT_FILE)


def verify_offline(args: argparse.Namespace) -> tuple[pb.VerifyLogResponse, str]:
    """Verify a store on disk with the server's own verifier (the same code the server runs at start); the
    outcome, and against what it was verified."""
    from dosefinding_server.api.audit_service import checkpoint_from_message, verification_message
    from dosefinding_server.audit.verify import verify_log as verify_store

    data_dir = Path(args.data_dir)
    database = data_dir / "dosefinding.sqlite3"
    if not database.exists():
        raise ValueError(f"{database} does not exist")
    keys = [_public_key(Path(args.public_key)) if args.public_key else _store_key(data_dir)]
    keys += [_public_key(path) for path in sorted((data_dir / ARCHIVED_KEYS_DIR).glob("*.pub"))]
    trusted_path = Path(args.trusted_checkpoint) if args.trusted_checkpoint else data_dir / TRUSTED_CHECKPOINT_FILE
    trusted = checkpoint_from_message(trusted_checkpoint(trusted_path)) if trusted_path.exists() else None
    report = verification_message(verify_store(str(database), trusted, public_keys=keys))
    return report, f" against the checkpoint in {trusted_path}" if trusted else " (no trusted checkpoint given)"


def _public_key(path: Path) -> Any:
    """The Ed25519 public key in a PEM file."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = read_bytes(path, PUBLIC_KEY_FILE)
    return read_as(lambda: load_pem_public_key(pem), path, PUBLIC_KEY_FILE)


def _store_key(data_dir: Path) -> Any:
    """The public half of the signing key kept in a data directory; a copy of the store alone has none."""
    from dosefinding_server.audit.errors import KeyFileError
    from dosefinding_server.audit.signing import load_private_key

    path = data_dir / SIGNING_KEY_FILE
    if not path.exists():
        raise ValueError(f"{data_dir} holds no {SIGNING_KEY_FILE}: give the log's public key with --public-key")
    try:
        return load_private_key(path).public_key()
    except KeyFileError as error:
        raise ValueError(f"{error}; or give the log's public key with --public-key") from None


def verify_log(client: DoseFindingClient | None, args: argparse.Namespace) -> pb.VerifyLogResponse | str:
    """The whole log verified, by the server or offline on a copy: a line for people, the response for
    ``--json``; a log that fails is :class:`Failed`."""
    if args.data_dir is not None:
        report, how = verify_offline(args)
    else:
        assert client is not None
        request = pb.VerifyLogRequest()
        if args.trusted_checkpoint:
            request.trusted_checkpoint.CopyFrom(trusted_checkpoint(Path(args.trusted_checkpoint)))
        report, how = client.call(client.audit.VerifyLog, request), " by the server"
    if not report.ok:
        where = f"first bad record: {report.first_bad_sequence}; " if report.HasField("first_bad_sequence") else ""
        raise Failed(f"audit log FAILED verification{how}: {where}{report.problem}", report)
    if args.json:
        return report
    return (f"audit log verified{how}: {report.records} records, {report.checkpoints} signed checkpoints, "
            f"{report.signed_records} records covered by a signature, root {report.root_hash.hex()}")


def export_records(client: DoseFindingClient, args: argparse.Namespace) -> str | None:
    """The export into ``--out``, or onto standard output with the count on standard error (so that the output
    is the export alone, for a pipe or a redirect)."""
    request = pb.ExportRecordsRequest(trial_id=args.trial or "",
                                      format=pb.EXPORT_FORMAT_CSV if args.format == "csv" else pb.EXPORT_FORMAT_JSONL)
    for moment, field in ((_utc(args.since, "--since"), "start"), (_utc(args.until, "--until"), "end")):
        if moment is not None:
            getattr(request, field).FromDatetime(moment)
    if args.out and Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a directory; name the file to write")
    chunks = client.stream(client.audit.ExportRecords, request)
    if not args.out:
        count = _write_chunks(chunks, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        print(f"exported {count} records", file=sys.stderr)
        return None
    out = Path(args.out)
    staging = out.with_name(out.name + ".partial")
    try:
        with open(staging, "wb") as file:
            count = _write_chunks(chunks, file)
        staging.replace(out)
    finally:
        staging.unlink(missing_ok=True)
    return f"exported {count} records to {out}"


def _write_chunks(chunks: Iterator[pb.ExportRecordsResponse], out: BinaryIO) -> int:
    """Write an export's text as it arrives; the number of records it holds."""
    count = 0
    for chunk in chunks:
        out.write(chunk.chunk)
        count = chunk.records
    return count


def replay_decisions(client: DoseFindingClient, args: argparse.Namespace) -> pb.ReplayDecisionsResponse:
    response = client.call(client.audit.ReplayDecisions, pb.ReplayDecisionsRequest(trial_id=args.trial or ""))
    if response.differences:
        raise Failed(render_replay(response), response)
    return response


def render_replay(response: pb.ReplayDecisionsResponse) -> str:
    lines = [f"replayed {response.replayed} logged decisions with engine {response.engine_version} "
             f"({response.skipped} records hold no decision): {len(response.differences)} differ"]
    lines += [f"  record {d.sequence} {d.method} (engine {d.logged_engine_version}): {d.detail}"
              for d in response.differences]
    return "\n".join(lines)


def latest_checkpoint(client: DoseFindingClient, args: argparse.Namespace) -> pb.GetLatestCheckpointResponse:
    return client.call(client.audit.GetLatestCheckpoint, pb.GetLatestCheckpointRequest())
