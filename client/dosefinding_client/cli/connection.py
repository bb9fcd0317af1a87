"""How the command reaches the server: plaintext (a local server in insecure mode), TLS, mutual TLS, a token.

TLS is used when ``--tls``, ``--ca`` or ``--cert`` is given: ``--ca`` names
the PEM certificate(s) to trust (default: the system's roots), ``--cert``
and ``--key`` the caller's own certificate for mutual TLS.  A bearer token
is read from the file ``--token-file`` or from ``DOSEFINDING_TOKEN``, never
from a flag (a flag stays in the shell's history and in ``ps``), and is sent
in plaintext only to a loopback address.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Mapping

import grpc

from ..addresses import is_loopback
from ..files import read_bytes

TOKEN_ENV = "DOSEFINDING_TOKEN"


@dataclass(frozen=True)
class Connection:
    """The channel credentials (``None``: plaintext) and call metadata the command uses."""

    credentials: grpc.ChannelCredentials | None
    metadata: tuple[tuple[str, str], ...]


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system's CAs")
    parser.add_argument("--ca", help="PEM certificate(s) of the CA to trust for the server's certificate (TLS) "
                                     "(env DOSEFINDING_CA)", default=os.environ.get("DOSEFINDING_CA"))
    parser.add_argument("--cert", help="this caller's PEM certificate, for mutual TLS (env DOSEFINDING_CERT)",
                        default=os.environ.get("DOSEFINDING_CERT"))
    parser.add_argument("--key", help="the private key of --cert, PEM (env DOSEFINDING_KEY)",
                        default=os.environ.get("DOSEFINDING_KEY"))
    parser.add_argument("--token-file", help=f"file holding a bearer token (or set {TOKEN_ENV})")


def _token(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    if args.token_file:
        token = read_bytes(args.token_file, "token file").decode("utf-8", errors="replace").strip()
        if not token:
            raise ValueError(f"token file {args.token_file}: empty")
        return token
    return environ.get(TOKEN_ENV, "").strip() or None


def from_args(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Connection:
    """What ``args`` and the environment say about reaching ``args.server``; a combination that cannot work,
    or would send a token in plaintext over the network, is a ``ValueError`` in words."""
    if bool(args.cert) != bool(args.key):
        raise ValueError("mutual TLS needs --cert and --key together")
    token = _token(args, environ)
    credentials = None
    if args.tls or args.ca or args.cert:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read_bytes(args.ca, "CA file") if args.ca else None,
            private_key=read_bytes(args.key, "key file") if args.key else None,
            certificate_chain=read_bytes(args.cert, "certificate file") if args.cert else None)
    elif token is not None and not is_loopback(args.server):
        raise ValueError(f"a bearer token is sent only over TLS (--tls or --ca) or to a loopback address, "
                         f"not in plaintext to {args.server}")
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    return Connection(credentials, metadata)
