"""Errors the engine raises for input it cannot act on.

The gRPC layer turns each into ``INVALID_ARGUMENT`` with one
``google.rpc.BadRequest`` field violation per problem; the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one input field (``field`` is a dotted path such as ``design.stages[2].n``)."""

    field: str
    description: str


class InputError(ValueError):
    """Input that is malformed or describes an impossible design."""

    def __init__(self, field: str, description: str, *more: FieldViolation) -> None:
        self.violations: tuple[FieldViolation, ...] = (FieldViolation(field, description), *more)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    def prefixed(self, prefix: str) -> "InputError":
        """The same violations with their field paths placed under ``prefix``."""
        moved = [FieldViolation(f"{prefix}.{v.field}" if v.field else prefix, v.description)
                 for v in self.violations]
        return InputError(moved[0].field, moved[0].description, *moved[1:])
