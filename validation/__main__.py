"""Command line of the validation suite: ``python -m validation COMMAND``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("evaluate", help="answer reference cases through the gRPC API")
    ev.add_argument("--cases", required=True, type=Path, help="JSON Lines of reference cases")
    ev.add_argument("--out", required=True, type=Path, help="where to write one answer per case")
    ev.add_argument("--target", help="HOST:PORT of a running server (default: start one on loopback)")
    ev.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        evaluate.run(args.cases, args.out, args.target, progress=not args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
