"""Proto fields as Python values, for readers of responses (the CLI, the validation suite)."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message


def optional(message: Message, name: str) -> Any:
    """The value of ``message``'s optional field ``name``, or ``None`` when it is not set (R's ``NA``)."""
    return getattr(message, name) if message.HasField(name) else None
