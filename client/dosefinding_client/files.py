"""Files people give the client (designs, plans, checkpoints): read as JSON, every problem named with the file.

A file that cannot be read, is not JSON, or does not hold what it should raises :class:`InputFileError`
(a ``ValueError``), whose message says which file and what is wrong with it, so that the command line
can print it in words and exit with status 2 instead of showing a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
T = TypeVar("T")

#: how errors name each kind of file
DESIGN_FILE = "design file"
PLAN_FILE = "plan file"
CHECKPOINT_FILE = "checkpoint file"
PUBLIC_KEY_FILE = "public key file"


class InputFileError(ValueError):
    """A file given to the client that does not hold what it should; the message names the file."""


def read_bytes(path: str | Path, what: str) -> bytes:
    """The contents of ``path``; ``what`` (e.g. ``"design file"``) names the file in errors."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InputFileError(f"{what} {path}: {error.strerror or error}") from None


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value in ``path``; ``what`` names the file in errors."""
    try:
        text = read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{what} {path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{what} {path}: not JSON: {error}") from None


def parse_message(data: Any, message: M, path: str | Path, what: str) -> M:
    """``data`` (the proto's canonical JSON mapping, read from ``path``) merged into ``message``."""
    return read_as(lambda: json_format.ParseDict(data, message), path, what)


def message_from(data: Any, allowed: tuple[str, ...], message: M) -> M:
    """``data``, an object with no keys but ``allowed`` (in the proto's JSON mapping), merged into ``message``."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object (fields: {', '.join(allowed)}), not {data!r}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; expected {', '.join(allowed)}")
    return json_format.ParseDict(data, message)


def read_as(build: Callable[[], T], path: str | Path, what: str) -> T:
    """What ``build`` makes of a file's contents; any complaint it raises about them names the file."""
    try:
        return build()
    except InputFileError:
        raise
    except (json_format.ParseError, ValueError, TypeError, KeyError) as error:
        problem = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise InputFileError(f"{what} {path}: {problem}") from None
