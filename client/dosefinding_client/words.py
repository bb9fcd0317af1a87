"""The words of escalation's grammar for proto enum values (``CRM_MODEL_LOGISTIC`` <-> ``"logistic"``).

Shared by client and server so that a design reads the same in JSON stage
lists, in the proto and in the engine.
"""

from __future__ import annotations

from google.protobuf.descriptor import EnumDescriptor


def enum_prefix(enum_type: EnumDescriptor) -> str:
    """``CrmModel`` -> ``"CRM_MODEL_"`` (the buf STANDARD value prefix)."""
    name = enum_type.name
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name))
    return snake.upper() + "_"


def enum_word(enum_type: EnumDescriptor, number: int) -> str | None:
    """The word for an enum value; ``None`` for the unspecified zero value."""
    if number == 0:
        return None
    return enum_type.values_by_number[number].name.removeprefix(enum_prefix(enum_type)).lower()


def word_enum(enum_type: EnumDescriptor, word: str) -> int:
    """The enum value for a word; ``ValueError`` naming the allowed words otherwise."""
    value = enum_type.values_by_name.get(enum_prefix(enum_type) + word.upper())
    if value is None or value.number == 0:
        allowed = [w for v in enum_type.values if (w := enum_word(enum_type, v.number))]
        raise ValueError(f"{word!r} is not one of {', '.join(allowed)}")
    return value.number
