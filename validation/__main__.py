"""Command line of the validation suite: ``python -m validation COMMAND``.

* ``evaluate`` — answer one file of reference cases through the gRPC API;
* ``run`` — the full validation (IQ, OQ, PQ, traceability) into a signed report;
* ``keygen`` — a new Ed25519 key pair for signing reports;
* ``verify`` — re-check a report's signature and every digest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dosefinding_client import ServiceError
from dosefinding_server.audit.errors import KeyFileError

from . import evaluate
from .attestation import Signer, verify
from .cases import Selection
from .keys import keygen, load_public_key, load_signing_key
from .run import Options, run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m validation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("evaluate", help="answer reference cases through the gRPC API")
    ev.add_argument("--cases", required=True, type=Path, help="JSON Lines of reference cases")
    ev.add_argument("--out", required=True, type=Path, help="where to write one answer per case")
    ev.add_argument("--target", help="HOST:PORT of a running server (default: start one on loopback)")
    ev.add_argument("--quiet", action="store_true", help="no progress lines")

    rn = commands.add_parser("run", help="validate the installed system into a signed report")
    rn.add_argument("--out", required=True, type=Path, help="new or empty directory for the report")
    rn.add_argument("--target", help="HOST:PORT of a running server (default: start one on loopback)")
    rn.add_argument("--signing-key", type=Path, help="the signer's Ed25519 private key (from keygen)")
    rn.add_argument("--signer", help="the signer's full name, as printed on the report")
    rn.add_argument("--meaning", help='what the signature means, e.g. "Approved for use in protocol X"')
    tests = rn.add_mutually_exclusive_group()
    tests.add_argument("--run-tests", action="store_true",
                       help="run the test files the requirements cite and use their results")
    tests.add_argument("--junit", type=Path, help="use the test results in this JUnit XML file")
    rn.add_argument("--families", help="comma-separated families only (a partial run, for checks and tests)")
    rn.add_argument("--cases-limit", type=int, help="the first N cases of each family only (a partial run)")
    rn.add_argument("--quiet", action="store_true", help="no progress lines")

    kg = commands.add_parser("keygen", help="write a new Ed25519 key pair for signing reports")
    kg.add_argument("--out", required=True, type=Path, help="directory for signing.key and signing.pub")

    vf = commands.add_parser("verify", help="re-check a report's signature and the digest of every file")
    vf.add_argument("report", type=Path, help="the report directory")
    vf.add_argument("--public-key", type=Path, help="the signer's public key (signing.pub) to pin")
    return parser


def _signer(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Signer | None:
    given = [args.signing_key is not None, bool(args.signer), bool(args.meaning)]
    if not any(given):
        return None
    if not all(given):
        parser.error("signing needs --signing-key, --signer and --meaning together (21 CFR Part 11 §11.50)")
    return Signer(args.signer, args.meaning, load_signing_key(args.signing_key))


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.cases_limit is not None and args.cases_limit < 1:
        parser.error("--cases-limit must be at least 1")
    families = None
    if args.families is not None:
        families = frozenset(name.strip() for name in args.families.split(",")) - {""}
        if not families:
            parser.error("--families names no family")
    selection = Selection(families, args.cases_limit)
    return run(Options(args.out, args.target, _signer(args, parser), selection, args.run_tests, args.junit,
                       progress=not args.quiet))


def _verify(args: argparse.Namespace) -> int:
    pinned = load_public_key(args.public_key) if args.public_key else None
    result = verify(args.report, pinned)
    for line in result.verified:
        print(f"ok      {line}")
    for problem in result.problems:
        print(f"FAILED  {problem}")
    count = len(result.problems)
    print(f"{args.report}: " + ("VERIFIED" if result.ok else
                                f"NOT VERIFIED ({count} problem{'' if count == 1 else 's'})"))
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "evaluate":
            evaluate.run(args.cases, args.out, args.target, progress=not args.quiet)
            return 0
        if args.command == "run":
            return _run(args, parser)
        if args.command == "keygen":
            print(f"public key fingerprint (SHA-256): {keygen(args.out)}")
            print(f"private key: {args.out / 'signing.key'} (mode 0600); public key: {args.out / 'signing.pub'}")
            return 0
        return _verify(args)
    except (OSError, ValueError, RuntimeError, KeyFileError, ServiceError) as error:
        print(f"python -m validation {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
