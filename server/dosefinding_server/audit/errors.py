"""The audit trail's exceptions."""

from __future__ import annotations


class AuditError(Exception):
    """Base of the audit trail's errors."""


class InvalidEntry(AuditError, ValueError):
    """An audit entry (or a stored record) has a field that is missing or malformed."""


class AuditLogClosed(AuditError):
    """The audit log was closed; nothing more can be appended."""


class KeyFileError(AuditError):
    """A key file is missing, malformed, or readable by others than its owner."""


class LogIntegrityError(AuditError):
    """The audit log cannot be opened, or it failed verification: the server must not start."""


class CheckpointRejected(AuditError):
    """A checkpoint is forged, signed by an unknown key, or not consistent with an earlier one."""
