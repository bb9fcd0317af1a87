"""The tamper-evident audit trail: who asked, when, with which design and data, and what was answered.

Records are appended in the same transaction as the trial writes they
explain, hash-chained, made the leaves of an RFC 9162 Merkle tree and sealed
by signed checkpoints; :func:`verify_log` checks all of it offline.
The gRPC layer needs :func:`open_audit_log`, :class:`AuditEntry` and an
:class:`AuditTrail`: an :class:`AuditLog` in its own process (group commit, led
by the calling threads), or a :class:`~.writer.RemoteAuditLog` whose appends
the audit writer process of a multi-process server makes.
"""

from .errors import AuditError, AuditLogClosed, CheckpointRejected, InvalidEntry, KeyFileError, LogIntegrityError
from .group_commit import Receipt
from .log import AuditLog
from .records import AuditEntry, AuditRecord
from .signing import Checkpoint
from .startup import open_audit_log
from .trail import AuditTrail, InclusionProof
from .verify import VerificationReport, check_checkpoint_update, verify_log

__all__ = [
    "AuditEntry", "AuditError", "AuditLog", "AuditLogClosed", "AuditRecord", "AuditTrail", "Checkpoint",
    "CheckpointRejected", "InclusionProof", "InvalidEntry", "KeyFileError", "LogIntegrityError", "Receipt",
    "VerificationReport", "check_checkpoint_update", "open_audit_log", "verify_log",
]
