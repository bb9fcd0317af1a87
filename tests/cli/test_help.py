"""Every command and option of ``dosefinding`` says in ``--help`` what it is for."""

from __future__ import annotations

import argparse
from typing import Iterator

from dosefinding_client.cli import build_parser


def commands(parser: argparse.ArgumentParser,
             path: str = "dosefinding") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``parser`` and each of its subcommands' parsers, depth first, with the words that call each."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from commands(subparser, f"{path} {name}")


def test_every_argument_of_every_command_has_help() -> None:
    missing = [f"{path}: {action.option_strings[-1] if action.option_strings else action.dest}"
               for path, parser in commands(build_parser()) for action in parser._actions
               if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert not missing, "without help: " + ", ".join(missing)


def test_the_description_is_plain_words_for_people() -> None:
    described = build_parser().format_help()
    assert "``" not in described and "tables for people" in described
