"""Opening the audit log at server start-up: verify first, refuse to start on any doubt.

A server that cannot show its audit trail is intact must not take decisions
that would be added to it (21 CFR Part 11 §11.10(e), ICH E6(R3)). So the log
is verified in full before it is opened for appending, and any failure (the
store cannot be read, a record was altered, a checkpoint is forged, the log
is shorter than a checkpoint kept outside it) raises
:class:`~.errors.LogIntegrityError`, whose message says what is wrong.
"""

from __future__ import annotations

from typing import Iterable

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..storage import Storage, StorageError
from .errors import LogIntegrityError
from .log import (DEFAULT_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_SECONDS, DEFAULT_MAX_BATCH, AuditLog, Clock,
                  utc_now)
from .schema import COMPONENT
from .signing import Checkpoint
from .verify import verify_log

logger = structlog.get_logger("dosefinding.audit")


def open_audit_log(storage: Storage, signing_key: Ed25519PrivateKey, *,
                   public_keys: Iterable[Ed25519PublicKey] = (), trusted_checkpoint: Checkpoint | None = None,
                   checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                   checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS, max_batch: int = DEFAULT_MAX_BATCH,
                   clock: Clock = utc_now) -> AuditLog:
    """Verify the audit log in ``storage`` and open it; start a new log if the store has none.

    ``public_keys`` are trusted outright besides ``signing_key``'s own (pass
    the log's first key once it has been rotated). ``trusted_checkpoint`` is
    the latest checkpoint kept outside the store, e.g. by the previous run:
    with it, a truncated, restored-from-old-copy or rewritten log is refused,
    and so is a store with no log at all.
    """
    anchors = [signing_key.public_key(), *public_keys]
    try:
        exists = storage.schema_version(COMPONENT) > 0
        if exists:
            report = verify_log(storage, trusted_checkpoint, public_keys=anchors)
            if not report.ok:
                raise LogIntegrityError(f"refusing to start: {report}")
            logger.info("audit_log_verified", records=report.records, checkpoints=report.checkpoints,
                        root_hash=report.root_hash.hex())
            if report.signed_records < report.records:
                logger.warning("audit_log_unsigned_tail", first_seq=report.signed_records + 1,
                               last_seq=report.records,
                               detail="records after the last signed checkpoint: the previous run did not "
                                      "close the log, or they were appended outside the server; review them")
        elif trusted_checkpoint is not None:
            raise LogIntegrityError(f"refusing to start: the store holds no audit log, but the trusted checkpoint "
                                    f"says it held {trusted_checkpoint.tree_size} records")
        return AuditLog(storage, signing_key, checkpoint_every=checkpoint_every,
                        checkpoint_seconds=checkpoint_seconds, max_batch=max_batch, clock=clock)
    except StorageError as err:
        raise LogIntegrityError(f"refusing to start: the audit log cannot be opened: {err}") from err


def active_key_id(storage: Storage) -> str | None:
    """The id of the key that signs the log in ``storage`` now (None: no log yet); read without verifying."""
    if storage.schema_version(COMPONENT) == 0:
        return None
    with storage.reader() as reader:
        row = reader.execute("SELECT key_id FROM audit_keys ORDER BY introduced_seq DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])
