"""Authenticate a call: mTLS client certificate subject, or a bearer token, or explicit insecure local mode."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Mapping

import grpc

from .principals import ALL_ROLES, Principal, Role, token_digest

INSECURE_PRINCIPAL = Principal("local (insecure mode)", ALL_ROLES, "insecure-loopback")


class Unauthenticated(Exception):
    """No acceptable credentials."""


@dataclass(frozen=True)
class Identities:
    """Configured callers: certificate subjects and token digests, each with roles."""

    subjects: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    tokens: Mapping[str, tuple[str, frozenset[Role]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.subjects and not self.tokens


def _bearer(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
            return value[7:].strip()
    return None


#: The auth_context property that carries a verified peer certificate's subject (gRPC core's
#: GRPC_X509_SUBJECT_PROPERTY_NAME, checked with grpcio 1.85): the full distinguished name in RFC 4514
#: form, last attribute first, e.g. ``CN=edc.example.org,O=Sponsor`` for a subject encoded as
#: O=Sponsor then CN=edc.example.org (what ``cryptography``'s ``Name.rfc4514_string()`` prints).
#: ``x509_common_name`` is deliberately not a fallback: a bare CN compared with configured
#: distinguished names would let a certificate whose CN reads like a configured DN pass as it.
SUBJECT_PROPERTY = "x509_subject"
PEER_CERTIFICATE_PROPERTY = "x509_pem_cert"


def _certificate_subject(context: grpc.ServicerContext) -> str | None:
    """The verified client certificate's subject; ``Unauthenticated`` if a certificate came without one."""
    auth = context.auth_context() or {}
    names = auth.get(SUBJECT_PROPERTY)
    if names:
        return names[0].decode("utf-8")
    if auth.get(PEER_CERTIFICATE_PROPERTY):
        raise Unauthenticated("the client certificate has no subject this server can read")
    return None


class Authenticator:
    """Resolves the principal of a call.

    A client certificate (verified by the TLS layer against the configured CA)
    is authenticated by its subject; otherwise an ``authorization: Bearer``
    token by its digest (constant-time compare).  In insecure loopback mode with
    no identities configured every caller is the local developer.
    """

    def __init__(self, identities: Identities, insecure: bool) -> None:
        self.identities = identities
        self.insecure = insecure

    def principal(self, context: grpc.ServicerContext) -> Principal:
        subject = _certificate_subject(context)
        if subject is not None:
            roles = self.identities.subjects.get(subject)
            if roles is None:
                raise Unauthenticated(f"certificate subject {subject!r} is not a configured caller")
            return Principal(subject, roles, "mtls")
        token = _bearer(context)
        if token is not None:
            digest = token_digest(token)
            for known, (name, roles) in self.identities.tokens.items():
                if hmac.compare_digest(known, digest):
                    return Principal(name, roles, "token")
            raise Unauthenticated("the bearer token is not valid")
        if self.insecure and self.identities.empty:
            return INSECURE_PRINCIPAL
        raise Unauthenticated("present a client certificate or an authorization: Bearer token")
