"""Principals and roles.

Roles follow the users of the service: ``statistician`` designs and creates
trials, ``system`` (a trial-management or EDC system) records outcomes and
asks for decisions, ``auditor`` reads, exports and verifies, ``admin`` may do
everything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    STATISTICIAN = "statistician"
    SYSTEM = "system"
    AUDITOR = "auditor"
    ADMIN = "admin"


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its name (certificate subject or token name), roles and how it proved itself."""

    name: str
    roles: frozenset[Role]
    method: str

    def may(self, allowed: frozenset[Role]) -> bool:
        return Role.ADMIN in self.roles or bool(self.roles & allowed)


def token_digest(token: str) -> str:
    """Tokens are configured and compared by SHA-256 digest; the token itself is never stored or logged."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
