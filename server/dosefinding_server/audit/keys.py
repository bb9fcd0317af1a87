"""Signing-key introductions, recorded in the audit log itself.

The log's first record introduces the key that signs its checkpoints; a key
rotation is a later record introducing the successor, endorsed by the key it
replaces. Being records, they are chained and covered by the checkpoints like
everything else, so the history of which key signed what cannot be rewritten.
A verifier accepts an introduced key if it trusts it outright or if the key
active just before endorsed it.

The record's ``request`` is the canonical JSON (RFC 8785) of
``{"key_id", "public_key" (raw, base64), "previous_key_id", "endorsement" (base64)}``,
the last two ``null`` for the first key.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..version import ENGINE_VERSION
from .canonical import b64, canonical_json
from .errors import InvalidEntry
from .records import AuditEntry
from .signing import endorse, key_id, public_key_from_raw, raw_public_key

KEY_METHOD = "audit/IntroduceSigningKey"
SYSTEM_PRINCIPAL = "dosefinding-server"


@dataclass(frozen=True)
class KeyIntroduction:
    """A key introduction as recorded: the key and, for a rotation, its predecessor's endorsement."""

    key_id: str
    public_key: bytes
    previous_key_id: str | None
    endorsement: bytes | None

    @classmethod
    def create(cls, new_key: Ed25519PublicKey, previous_key: Ed25519PrivateKey | None) -> KeyIntroduction:
        if previous_key is None:
            return cls(key_id(new_key), raw_public_key(new_key), None, None)
        return cls(key_id(new_key), raw_public_key(new_key), key_id(previous_key.public_key()),
                   endorse(previous_key, new_key))

    def _document(self) -> dict[str, str | None]:
        return {"key_id": self.key_id, "public_key": b64(self.public_key),
                "previous_key_id": self.previous_key_id,
                "endorsement": None if self.endorsement is None else b64(self.endorsement)}

    def entry(self) -> AuditEntry:
        """The audit entry recording this introduction."""
        reason = ("signing key introduced when the log was created" if self.previous_key_id is None
                  else f"signing key rotated from {self.previous_key_id}")
        return AuditEntry(principal=SYSTEM_PRINCIPAL, method=KEY_METHOD, request=canonical_json(self._document()),
                          response=canonical_json({}), engine_version=ENGINE_VERSION, reason=reason)

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> KeyIntroduction:
        """The introduction recorded in ``entry``; raises :class:`InvalidEntry` if it is not well formed."""
        try:
            document = json.loads(entry.request)
            introduction = cls(document["key_id"], base64.b64decode(document["public_key"], validate=True),
                               document["previous_key_id"],
                               None if document["endorsement"] is None
                               else base64.b64decode(document["endorsement"], validate=True))
            public_key = public_key_from_raw(introduction.public_key)
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            raise InvalidEntry(f"malformed key introduction: {type(err).__name__}") from None
        if canonical_json(introduction._document()) != entry.request:
            raise InvalidEntry("key introduction is not in canonical form")
        if key_id(public_key) != introduction.key_id:
            raise InvalidEntry("key introduction's key_id is not the fingerprint of its public key")
        if (introduction.previous_key_id is None) != (introduction.endorsement is None):
            raise InvalidEntry("key introduction has a previous key without an endorsement, or the reverse")
        return introduction
