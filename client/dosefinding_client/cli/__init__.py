"""``dosefinding``: the service from the command line, for people (tables) and scripts (``--json``).

Errors print the service's message and each field violation in words, and the
command exits with status 2 (bad input) or 1 (any other failure).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from ..client import DoseFindingClient, ServiceError
from . import audit, calculations, connection, simulation, trials

#: a command: its response (rendered, or printed as JSON), a line of text, or None when it wrote its output itself
Handler = Callable[[DoseFindingClient, argparse.Namespace], Message | str | None]
COMMAND_GROUPS = (calculations, trials, audit, simulation)
DESCRIPTION = "The dose-finding service from the command line: tables for people, --json for scripts."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dosefinding", description=DESCRIPTION)
    parser.add_argument("--server", default=os.environ.get("DOSEFINDING_SERVER", "127.0.0.1:50051"),
                        help="HOST:PORT of the server (env DOSEFINDING_SERVER)")
    parser.add_argument("--json", action="store_true", help="print the response as JSON (proto JSON mapping)")
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline of each call, in seconds")
    connection.add_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def print_json(message: Message) -> None:
    print(json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2,
                                    always_print_fields_with_no_presence=True))


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except BrokenPipeError:  # output piped into e.g. head: stop quietly, as command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        if getattr(args, "offline", lambda _: False)(args):
            result = handler(None, args)
        else:
            reach = connection.from_args(args)
            with DoseFindingClient(args.server, credentials=reach.credentials, metadata=reach.metadata,
                                   timeout=args.timeout, retries=2) as client:
                result = handler(client, args)
    except ServiceError as error:
        print(f"dosefinding: {error}", file=sys.stderr)
        return 2 if error.code == grpc.StatusCode.INVALID_ARGUMENT else 1
    except audit.Failed as failure:
        if args.json:
            print_json(failure.response)
        print(f"dosefinding: {failure}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"dosefinding: {error}", file=sys.stderr)
        return 2
    if isinstance(result, Message):
        if args.json:
            print_json(result)
        else:
            print(args.render(result))
    elif result is not None:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
